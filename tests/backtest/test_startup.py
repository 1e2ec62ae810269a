"""A backtest's start-up carries only what a backtest uses (issue 14, "start-up light").

Checked on the real process (`python -X importtime bot.py backtest ...`): the modules it imports, and the threads
numpy's OpenBLAS starts. The CPU figures themselves come from `python scripts/bench.py backtest`, never a test.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: what a plain backtest never needs: the store, the broker and trading layers, the SDKs, plots, tuning, tables
NOT_FOR_A_BACKTEST = (
    "sqlite3", "bot.state.store", "bot.brokers", "bot.trading", "bot.copy.engine", "bot.sim", "bot.web",
    "krakenex", "pykrakenapi", "coinbase", "alpaca", "requests", "urllib3", "jwt", "cryptography",
    "matplotlib", "plotly", "optuna", "rich", "ta",
)


def _candles(folder: Path, rows: int = 120) -> Path:
    """A small deterministic BTC-USD 1h file (a gentle zig-zag), enough for every code path of the report."""
    lines = ["time,open,high,low,close,volume"]
    for i in range(rows):
        close = 100.0 + (i % 7) - (i % 3) * 0.5
        lines.append(f"{1_700_000_000 + i * 3600},{close - 0.2},{close + 0.6},{close - 0.7},{close},{10 + i % 5}")
    with gzip.open(folder / "BTC-USD_1h.csv.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return folder


def _imported(stderr: str) -> set[str]:
    """Module names from -X importtime's lines ("import time: self | cumulative | name")."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_a_backtest_imports_no_store_broker_sdk_plot_or_tuning_module(tmp_path: Path) -> None:
    data = _candles(tmp_path)
    env = {**os.environ, "NIJA_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO / "bot.py"), "backtest", "--data", str(data), "--timeframe",
         "1h"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "APEX backtest BTC-USD 1h" in result.stdout
    modules = _imported(result.stderr)
    assert {"pandas", "bot.backtest.engine", "bot.config.settings"} <= modules  # the reading works
    unexpected = sorted(m for m in modules if any(m == bad or m.startswith(bad + ".") for bad in NOT_FOR_A_BACKTEST))
    assert unexpected == []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)")
@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("2", "2")])
def test_the_entry_point_gives_numpy_one_blas_thread_unless_told_otherwise(given: str | None, expected: str) -> None:
    if expected == "2" and (os.cpu_count() or 1) < 2:
        pytest.skip("OpenBLAS starts at most one thread per core")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    probe = (
        "import os, runpy; runpy.run_path('bot.py', run_name='probe'); import numpy; "  # bot.py's top, not main()
        "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env,
                            cwd=REPO, check=True)
    setting, threads = result.stdout.split()
    assert setting == expected
    assert threads == expected  # numpy's BLAS threads plus the main thread's own: exactly the setting
