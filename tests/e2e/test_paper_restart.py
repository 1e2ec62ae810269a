"""Paper results survive a restart (issues 12 and 13): the simulator's file and the paper store stay side by side
in the paper state directory, a second run carries on with the same balances, fills and positions, and
`run --fresh` starts over."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_paper(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_", "SIM_", "PAPER_", "LIVE_TRADING"))}
    env.update({"NIJA_HOME": str(home), "SIM_MARKETS": "6"})
    # 3000x: the demo's first set-up (an hour of simulated time) closes a second after the start.
    return subprocess.run([sys.executable, str(REPO / "bot.py"), "--speed", "3000", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=home, check=False)


def store_figures(home: Path) -> tuple[int, float]:
    """(fills, the master's last stored equity) from the paper store."""
    with closing(sqlite3.connect(home / "state" / "paper" / "nija.sqlite3")) as db:
        fills = db.execute("SELECT count(*) FROM fills").fetchone()[0]
        equity = db.execute("SELECT equity FROM account_states WHERE account_id = 'master'").fetchone()[0]
    return int(fills), float(equity)


def test_a_restart_carries_on_and_fresh_starts_over(tmp_path: Path) -> None:
    first = run_paper(tmp_path, "--duration", "4")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Resuming paper results" not in first.stdout
    fills, equity = store_figures(tmp_path)
    assert fills > 0, first.stderr[-3000:]
    assert (tmp_path / "state" / "paper" / "simulator.sqlite3").is_file()

    second = run_paper(tmp_path, "--duration", "2", "--seed", "99")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming paper results from" in second.stdout and "(--seed: used by a fresh start only.)" in second.stdout
    assert "reconcile: store and exchange agree" in second.stdout
    master_row = next(line for line in second.stdout.splitlines() if line.startswith("| kraken:master ") and
                      "TRADING" in line and line.count("|") > 8)
    assert f"{equity:,.2f}" in master_row  # this run starts where the last one ended, not at 10,000.00
    again, _ = store_figures(tmp_path)
    assert again >= fills  # yesterday's fills are still there

    fresh = run_paper(tmp_path, "--duration", "0", "--fresh")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "Resuming paper results" not in fresh.stdout
    after, start_equity = store_figures(tmp_path)
    assert after < again and start_equity == 10_000.0
