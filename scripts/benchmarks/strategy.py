"""Time one APEX scan of 730 markets x 100 closed candles (the old bot's market count), all computed fresh.

The markets are 100-candle windows cut from the real 1h and 15m files of ../shared/data/coinbase at
evenly spread offsets, so the indicators see real price action. Up to one market in ten (SIGNAL_SHARE) is a
window that ends on a candle where APEX enters, found beforehand in the same files, so the signal
path (stop, confidence, the signal object) is timed too, not only the rejections. Prints
{"markets", "seconds", "signals", ...}; seconds is the median of 3 scans after one warm-up scan.
Exits 1 when seconds is over --max-seconds (1 s) or the timed scans found fewer signals than planted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bot.backtest.data import read_candles
from bot.brokers.base import MarketInfo, Ticker
from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import scan_frames, signal_frame
from bot.strategy.indicators import compute_indicators
from bot.trading.market_selection import select_markets

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coinbase"
MARKETS = 730
CANDLES = 100
SIGNAL_SHARE = 0.1  # of the markets, windows that end on an entry candle
MAX_SECONDS = 1.0


def _signal_windows(series: list[pd.DataFrame], wanted: int, candles: int,
                    settings: StrategySettings) -> list[pd.DataFrame]:
    """Up to `wanted` `candles`-long windows whose last candle is an APEX entry, evenly from every file."""
    per_file: list[list[pd.DataFrame]] = []
    for frame in series:
        found: list[pd.DataFrame] = []
        entries = signal_frame(compute_indicators(frame, settings), settings)["entry"].to_numpy()
        for end in np.flatnonzero(entries):
            if end + 1 < candles:
                continue
            window = frame.iloc[end + 1 - candles : end + 1].reset_index(drop=True)
            result = scan_frames({"probe": window}, settings).get("probe")
            if result is not None and result.signal is not None:  # fresh indicators over the window agree
                found.append(window)
            if len(found) * len(series) >= wanted:
                break
        per_file.append(found)
    windows = [w for group in zip(*per_file) for w in group] + [w for group in per_file for w in group]
    unique = list({id(w): w for w in windows}.values())
    return unique[:wanted]


def markets(data_dir: Path, count: int = MARKETS, candles: int = CANDLES,
            settings: StrategySettings | None = None) -> tuple[dict[str, pd.DataFrame], int]:
    """The timed markets, and how many of them end on an entry candle."""
    settings = settings or StrategySettings()
    files = sorted(p for p in data_dir.glob("*.csv.gz") if "-cdd" not in p.name)
    series = [read_candles(path) for path in files]
    signalling = _signal_windows(series, round(count * SIGNAL_SHARE), candles, settings)
    out: dict[str, pd.DataFrame] = {}
    plain = count - len(signalling)
    for i in range(plain):
        frame = series[i % len(series)]
        start = (i // len(series)) * ((len(frame) - candles) // (plain // len(series) + 1))
        out[f"M{i:03d}-USD"] = frame.iloc[start : start + candles].reset_index(drop=True)
    for j, window in enumerate(signalling):
        out[f"S{j:03d}-USD"] = window
    return out, len(signalling)


def _selection_seconds(count: int) -> float:
    """Market selection over `count` markets with tickers (quote and 24 h volume filters)."""
    markets = {
        f"M{i:03d}-{quote}": MarketInfo(f"M{i:03d}-{quote}", f"M{i:03d}", quote, f"M{i:03d}{quote}", Decimal("0.001"),
                                        Decimal("0.5"), 8,
                                        4, 0.0026)
        for i, quote in ((i, ("USD", "USDT", "EUR", "BTC")[i % 4]) for i in range(count))
    }
    tickers = {sym: Ticker(sym, 1.0, 1.0, 1.0, float(i * 1000)) for i, sym in enumerate(markets)}
    settings = StrategySettings(market_quote_currencies=("USD", "USDT"), min_volume_24h_quote=50_000.0)
    started = time.perf_counter()
    select_markets(markets, settings, tickers).for_account({"M001-USD", "M005-USDT"})
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py strategy")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="exit 1 when a scan takes longer")
    args = parser.parse_args(argv)
    if not any(args.data.glob("*.csv.gz")):
        print(f"bench.py strategy: no candle files (*.csv.gz) in {args.data}; pass --data DIR", file=sys.stderr)
        return 2
    settings = StrategySettings()
    frames, planted = markets(args.data, settings=settings)
    scan_frames(frames, settings)  # warm-up: imports and first-call costs
    times = []
    signals = 0
    for _ in range(3):
        started = time.perf_counter()
        results = scan_frames(frames, settings)
        times.append(time.perf_counter() - started)
        signals = sum(1 for r in results.values() if r.signal is not None)
    figures = {
        "markets": len(frames),
        "seconds": round(statistics.median(times), 4),
        "signals": signals,
        "signal_markets_planted": planted,
        "selection_seconds": round(_selection_seconds(len(frames)), 5),
        "max_seconds": args.max_seconds,
    }
    print(json.dumps(figures) if args.json else f"{figures['markets']} markets x {CANDLES} candles: "
          f"{figures['seconds']} s ({signals} signals)")
    problems = []
    if float(figures["seconds"]) > args.max_seconds:
        problems.append(f"a scan took {figures['seconds']} s, over {args.max_seconds:g} s")
    if planted == 0 or signals < planted:
        problems.append(f"{signals} signals in the timed scans, {planted} planted: the signal path was not timed")
    for problem in problems:
        print(f"bench.py strategy: {problem}", file=sys.stderr)
    return 1 if problems else 0
