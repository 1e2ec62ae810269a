"""`python bot.py backtest --data DIR [--pairs ...] [--timeframe 1h] [--balance 1000] [--followers N] [--json]
[--plot F]`: APEX over candle files, per-account figures for the master and simulated copy followers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.backtest.data import DataError, find_files, read_candles, timeframe_seconds
from bot.backtest.engine import run_backtest
from bot.backtest.report import build_report, format_table
from bot.backtest.rules import exchange_for, market_rules
from bot.config.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="a folder of PAIR_TF.csv(.gz) candle files")
    parser.add_argument("--pairs", default="", help="comma-separated pairs, e.g. BTC-USD,ETH-USD (default: all)")
    parser.add_argument("--timeframe", default="1h", help="candle length as in the file names: 1h, 15m, 1d")
    parser.add_argument(
        "--variant", default=None, help="file variant when a pair has several, e.g. cdd for PAIR_1h-cdd"
    )
    parser.add_argument("--balance", type=float, default=1000.0, help="master starting balance in USD")
    parser.add_argument("--followers", type=int, default=0, help="copy-trading followers to simulate (0 or more)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--plot", type=Path, default=None, help="write the equity curves to this PNG file")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.followers < 0:
        print(f"--followers {args.followers}: expected 0 or more", file=sys.stderr)
        return 2
    if args.balance <= 0:
        print(f"--balance {args.balance}: expected a positive USD amount", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        seconds_per_candle = timeframe_seconds(args.timeframe)
        pairs = [p for p in args.pairs.split(",") if p.strip()] or None
        files = find_files(args.data, args.timeframe, pairs, args.variant)
        frames = {f.pair: read_candles(f.path) for f in files}
    except DataError as error:
        print(str(error), file=sys.stderr)
        return 2
    rules = market_rules(exchange_for(args.data, settings.backtest), settings)
    result = run_backtest(
        frames, settings, rules, balance=args.balance, followers=args.followers, candle_seconds=seconds_per_candle
    )
    report = build_report(
        result, data=str(args.data), timeframe=args.timeframe, seconds=time.perf_counter() - started
    )
    if args.plot is not None:
        from bot.backtest.plot import plot_equity  # matplotlib only when a plot is asked for

        plot_equity(result, args.plot)
        report["plot"] = str(args.plot)
    print(json.dumps(report) if args.json else format_table(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m bot.backtest.command`) until bot.py wires the subcommand."""
    from bot.config.settings import load_settings

    parser = argparse.ArgumentParser(prog="bot.py backtest", description="Run APEX over historical candles.")
    add_arguments(parser)
    return run(parser.parse_args(argv), load_settings())


if __name__ == "__main__":
    raise SystemExit(main())
