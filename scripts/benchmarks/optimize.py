"""Walk-forward tuning speed on 4 pairs x 2 years of 1h Coinbase candles (target: 200 trials a minute or more).

Runs the same walk-forward search `python bot.py optimize` runs (default windows, seeded), reading the files
and preparing indicators included. Prints {"trials", "windows", "seconds", "trials_per_minute"}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bot.backtest.data import find_files, read_candles, timeframe_seconds
from bot.backtest.optimize import walk_forward
from bot.backtest.rules import market_rules
from bot.config.settings import Settings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coinbase"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py optimize")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--trials", type=int, default=60, help="trials per window")
    args = parser.parse_args(argv)
    settings = Settings()
    started = time.perf_counter()
    frames = {f.pair: read_candles(f.path) for f in find_files(args.data, "1h")}
    report = walk_forward(frames, settings, market_rules("coinbase", settings), candle_seconds=timeframe_seconds("1h"),
                          trials=args.trials)
    seconds = time.perf_counter() - started
    figures = {
        "pairs": len(frames),
        "candles": sum(len(f) for f in frames.values()),
        "windows": len(report["windows"]),  # type: ignore[arg-type]
        "trials": report["trials"],
        "seconds": round(seconds, 3),
        "trials_per_minute": round(float(report["trials"]) / seconds * 60, 1),  # type: ignore[arg-type]
    }
    print(json.dumps(figures) if args.json else f"{figures['trials']} trials over {figures['windows']} windows in "
          f"{figures['seconds']} s: {figures['trials_per_minute']} trials a minute")
    return 0
