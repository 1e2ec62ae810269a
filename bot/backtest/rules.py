"""The exchange rules a backtest trades under, in one place.

Live trading reads fees, minimums and lot precision from each exchange's market list
(MarketInfo). A backtest has no exchange to ask, so they come from BacktestSettings: the
exchange's lowest-tier taker fee and minimum order value, and a lot precision, the same for
every pair of the run. The exchange is taken from the data folder's name (…/kraken/…) unless
BACKTEST_EXCHANGE names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.sections.backtest import BacktestSettings

EXCHANGES = ("kraken", "coinbase", "alpaca")
DEFAULT_EXCHANGE = "coinbase"


@dataclass(frozen=True)
class MarketRules:
    exchange: str
    fee_rate: float  # taker fee, a fraction of the order value
    min_notional: float  # quote currency
    min_base_qty: float  # base units
    base_decimals: int
    slippage: float  # a fraction of price lost on every fill


def exchange_for(data_dir: Path, s: BacktestSettings) -> str:
    if s.backtest_exchange != "auto":
        return s.backtest_exchange
    parts = [part.lower() for part in data_dir.resolve().parts]
    for name in EXCHANGES:
        if name in parts:
            return name
    return DEFAULT_EXCHANGE


def market_rules(exchange: str, s: BacktestSettings) -> MarketRules:
    return MarketRules(
        exchange=exchange,
        fee_rate=getattr(s, f"backtest_{exchange}_taker_fee"),
        min_notional=getattr(s, f"backtest_{exchange}_min_notional"),
        min_base_qty=0.0,
        base_decimals=s.backtest_base_decimals,
        slippage=s.backtest_slippage,
    )
