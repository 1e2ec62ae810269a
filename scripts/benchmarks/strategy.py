"""Time one APEX scan of 730 markets x 100 closed candles (the old bot's market count), all computed fresh.

The markets are 100-candle windows cut from the real 1h and 15m files of ../shared/data/coinbase at
evenly spread offsets, so the indicators see real price action. Prints {"markets", "seconds", ...};
seconds is the median of 3 scans after one warm-up scan.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd

from bot.backtest.data import read_candles
from bot.brokers.base import MarketInfo, Ticker
from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import scan_frames
from bot.trading.market_selection import select_markets

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coinbase"
MARKETS = 730
CANDLES = 100


def markets(data_dir: Path, count: int = MARKETS, candles: int = CANDLES) -> dict[str, pd.DataFrame]:
    files = sorted(p for p in data_dir.glob("*.csv.gz") if "-cdd" not in p.name)
    series = [read_candles(path) for path in files]
    out: dict[str, pd.DataFrame] = {}
    for i in range(count):
        frame = series[i % len(series)]
        start = (i // len(series)) * ((len(frame) - candles) // (count // len(series) + 1))
        out[f"M{i:03d}-USD"] = frame.iloc[start : start + candles].reset_index(drop=True)
    return out


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
    args = parser.parse_args(argv)
    if not any(args.data.glob("*.csv.gz")):
        print(f"bench.py strategy: no candle files (*.csv.gz) in {args.data}; pass --data DIR", file=sys.stderr)
        return 2
    frames = markets(args.data)
    settings = StrategySettings()
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
        "selection_seconds": round(_selection_seconds(len(frames)), 5),
    }
    print(json.dumps(figures) if args.json else f"{figures['markets']} markets x {CANDLES} candles: "
          f"{figures['seconds']} s ({signals} signals)")
    return 0
