"""CPU seconds of whole `python bot.py ...` processes: `--help`, `status` and a 1h backtest.

Each command runs as its own process (interpreter start-up and every import included) from a
temporary directory, so it is measured as a user meets it. The figure per command is the lowest
user + system CPU time over `--runs` runs (the least disturbed by the other processes of a loaded
machine), with that process's peak memory. `status` reads a paper store with three accounts,
made before the timing starts. Prints {"help_cpu_seconds", "status_cpu_seconds",
"backtest_1h_cpu_seconds", "<command>_max_rss_mib", "runs"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bot.state.records import AccountStateRecord, HealthRecord
from bot.state.store import DEFAULT_FILE_NAME, StateStore
from scripts.benchmarks._process import run_measured

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "coinbase"


def make_status_store(state_dir: Path) -> None:
    """A paper store as a short demo run leaves it: a master and two followers with health."""
    paper = state_dir / "paper"
    paper.mkdir(parents=True, exist_ok=True)
    with StateStore(paper / DEFAULT_FILE_NAME) as store:
        for account_id, role, state in (("master", "master", "TRADING"), ("demo_user_1", "user", "FOLLOWING"),
                                        ("demo_user_2", "user", "FOLLOWING")):
            store.save_account_state(AccountStateRecord(
                broker="kraken", account_id=account_id, role=role, state=state, reason="benchmark account",
                fix="", equity=1000.0, cash=900.0,
            ))
            store.save_health(HealthRecord(broker="kraken", account_id=account_id, cycles=10, successes=10))


def _measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(user + system CPU seconds, peak resident MiB) of one whole child process."""
    run = run_measured(command, cwd=cwd, env=env)
    if run.returncode != 0:
        raise SystemExit(f"bench cli: {' '.join(command[1:])} exited {run.returncode}:\n{run.output[-2000:]}")
    return run.cpu_seconds, run.max_rss_mib


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py cli")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the lowest CPU time is reported")
    parser.add_argument("--data", type=Path, default=DATA, help="candle folder of the 1h backtest")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench cli: --data {args.data}: expected a folder of candle files", file=sys.stderr)
        return 2
    bot = str(REPO / "bot.py")
    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        state_dir = cwd / "state"
        make_status_store(state_dir)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
        env.update({"NIJA_STATE_DIR": str(state_dir), "NIJA_HOME": folder, "LIVE_TRADING": "false"})
        commands = {
            "help": [sys.executable, bot, "--help"],
            "status": [sys.executable, bot, "status"],
            "backtest_1h": [sys.executable, bot, "backtest", "--data", str(args.data), "--timeframe", "1h"],
        }
        for name, command in commands.items():
            runs = [_measure(command, env, cwd) for _ in range(max(args.runs, 1))]
            cpu, rss = min(runs)
            figures[f"{name}_cpu_seconds"] = round(cpu, 3)
            figures[f"{name}_max_rss_mib"] = round(rss, 1)
    figures["runs"] = max(args.runs, 1)
    if args.json:
        print(json.dumps(figures))
    else:
        for name in ("help", "status", "backtest_1h"):
            cpu, rss = figures[f"{name}_cpu_seconds"], figures[f"{name}_max_rss_mib"]
            print(f"{name:<12} {cpu:>7.3f} s CPU  {rss:>7.1f} MiB")
    return 0
