"""The exchange rules a backtest trades under, in one place.

Live trading reads fees, minimums and lot precision from each exchange's market list
(MarketInfo). A backtest has no exchange to ask: the taker fee is the exchange settings' (the same
number live trading falls back to), the minimum order value and lot precision the backtest
settings', the same for every pair of the run. The exchange is taken from the data folder's name
(…/kraken/…) unless BACKTEST_EXCHANGE names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.sections.backtest import BacktestSettings
from bot.config.settings import Settings

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


def taker_fee(exchange: str, settings: Settings) -> float:
    """The exchange's taker fee from the one set of fee settings (Alpaca: its crypto fee; the data is crypto)."""
    fees = settings.exchanges
    return {
        "kraken": fees.kraken_taker_fee,
        "coinbase": fees.coinbase_taker_fee,
        "alpaca": fees.alpaca_crypto_taker_fee,
    }[exchange]


def market_rules(exchange: str, settings: Settings) -> MarketRules:
    s = settings.backtest
    min_notional = {
        "kraken": s.backtest_kraken_min_notional,
        "coinbase": s.backtest_coinbase_min_notional,
        "alpaca": settings.exchanges.alpaca_min_notional,
    }[exchange]
    return MarketRules(
        exchange=exchange,
        fee_rate=taker_fee(exchange, settings),
        min_notional=min_notional,
        min_base_qty=0.0,
        base_decimals=s.backtest_base_decimals,
        slippage=s.backtest_slippage,
    )
