"""`python scripts/bench.py backtest`: whole processes measured, freqtrade beside them when present.

freqtrade is outside the project (never installed by it, absent on CI), so the comparison's plumbing is checked
with a stand-in instrument that answers as freqtrade's backtest does (exit 0, its summary table).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scripts.benchmarks.backtest import freqtrade_instrument, freqtrade_trades, main, nija_trades

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coinbase"

# freqtrade 2026.9's summary row, as its backtest prints it
FREQTRADE_SUMMARY = "│ Total/Daily Avg Trades                 │ 35 / 0.05                                 │"


def _instrument(folder: Path, trades: int, code: int = 0) -> Path:
    script = folder / "backtest"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"print('Backtesting', sys.argv[1])\nprint({FREQTRADE_SUMMARY.replace('35', str(trades))!r})\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)
    return script


def test_no_instrument_is_a_reason_naming_the_folder(tmp_path: Path) -> None:
    executable, why = freqtrade_instrument(tmp_path / "missing")
    assert executable is None
    assert str(tmp_path / "missing" / "backtest") in why and "docs/backtesting.md" in why
    (tmp_path / "backtest").write_text("#!/bin/sh\n")
    executable, why = freqtrade_instrument(tmp_path)
    assert executable is None and "not executable" in why
    (tmp_path / "backtest").chmod(0o755)
    assert freqtrade_instrument(tmp_path) == (tmp_path / "backtest", "")


def test_trade_counts_are_read_from_both_outputs() -> None:
    assert freqtrade_trades(f"table\n{FREQTRADE_SUMMARY}\nmore") == 35
    assert freqtrade_trades("no summary here") is None
    assert nija_trades('warming up\n{"accounts": [{"account": "master", "trades": 6}]}') == 6
    assert nija_trades("") is None


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/coinbase")
def test_the_comparison_runs_both_whole_processes_and_divides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _instrument(tmp_path, trades=6)
    code = main(["--json", "--runs", "1", "--timeframes", "1h", "--followers", "0", "--freqtrade", str(tmp_path)])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    ours, theirs = figures["1h_followers_0"], figures["freqtrade"]["1h"]
    assert ours["trades"] == 6 and theirs["trades"] == 6  # NIJA's own count read from its JSON
    assert figures["startup"]["cpu_seconds"] > 0 and ours["cpu_seconds"] > 0 and theirs["cpu_seconds"] > 0
    assert figures["freqtrade"]["1h_cpu_ratio"] == round(theirs["cpu_seconds"] / ours["cpu_seconds"], 2)
    assert figures["freqtrade"]["instrument"] == str(tmp_path / "backtest")


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/coinbase")
def test_a_failing_instrument_stops_the_benchmark_with_its_output(tmp_path: Path) -> None:
    _instrument(tmp_path, trades=0, code=3)
    with pytest.raises(SystemExit, match="exited 3") as stopped:
        main(["--runs", "1", "--timeframes", "1h", "--followers", "0", "--freqtrade", str(tmp_path)])
    assert "Total/Daily Avg Trades" in str(stopped.value)
