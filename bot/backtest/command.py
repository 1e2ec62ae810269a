"""`python bot.py backtest --data DIR [--pairs ...] [--timeframe 1h] [--balance 1000] [--followers N] [--json]
[--trades F.csv] [--plot F.png|F.html]`: APEX over candle files; the report to decide with (docs/backtesting.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.backtest.data import DataError, find_files, read_candles, timeframe_seconds
from bot.backtest.engine import run_backtest
from bot.backtest.report import build_report, format_table, write_trades
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
    parser.add_argument("--json", action="store_true", help="print one JSON object (with the equity curves)")
    parser.add_argument("--trades", type=Path, default=None, help="write every trade to this CSV file")
    parser.add_argument(
        "--plot", type=Path, default=None,
        help="draw prices with entries and exits, equity and drawdown: F.png (matplotlib) or F.html (plotly)",
    )
    parser.add_argument(
        "--curve-points", type=int, default=2000, help="equity-curve points in the JSON (0: every candle)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.followers < 0:
        print(f"--followers {args.followers}: expected 0 or more", file=sys.stderr)
        return 2
    if args.balance <= 0:
        print(f"--balance {args.balance}: expected a positive USD amount", file=sys.stderr)
        return 2
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".html"):
        print(f"--plot {args.plot}: expected a file name ending in .png or .html", file=sys.stderr)
        return 2
    if args.curve_points < 0:
        print(f"--curve-points {args.curve_points}: expected 0 or more", file=sys.stderr)
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
        result, data=str(args.data), timeframe=args.timeframe, seconds=time.perf_counter() - started,
        curve_points=args.curve_points,
    )
    try:
        if args.trades is not None:
            report["trades_file"] = str(args.trades)
            report["trades_written"] = write_trades(result, args.trades)
        if args.plot is not None:
            if args.plot.suffix.lower() == ".html":
                from bot.backtest.plot_html import plot_html  # plotly only when an HTML plot is asked for

                plot_html(result, args.plot)
            else:
                from bot.backtest.plot import plot_png  # matplotlib only when a PNG is asked for

                plot_png(result, args.plot)
            report["plot"] = str(args.plot)
    except OSError as error:
        print(f"cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
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
