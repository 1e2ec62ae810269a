"""Which markets a brokerage scans, and which of those one account may trade.

The brokerage-wide list (quote currencies and minimum 24 h volume from StrategySettings) is
built once from one market list and one ticker request and shared; an account's list is
that list minus its `disabled_symbols`. Both are set and dict operations, so ~730 markets
cost well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bot.brokers.base import Broker, MarketInfo, Ticker
from bot.config.sections.strategy import StrategySettings


def normalise_symbol(symbol: str) -> str:
    """'btc/usd', 'BTC_USD' or 'BTC-USD' -> 'BTC-USD' (the bot's form), so user files can be loose."""
    return symbol.strip().upper().replace("/", "-").replace("_", "-")


@dataclass(frozen=True)
class MarketUniverse:
    """The markets a brokerage scans, busiest first, and why the others were left out (symbol -> reason)."""

    symbols: tuple[str, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)

    def for_account(self, disabled_symbols: Collection[str]) -> tuple[str, ...]:
        """This universe minus an account's disabled symbols."""
        if not disabled_symbols:
            return self.symbols
        disabled = {normalise_symbol(sym) for sym in disabled_symbols}
        return tuple(sym for sym in self.symbols if sym not in disabled)


def select_markets(
    markets: Mapping[str, MarketInfo],
    s: StrategySettings,
    tickers: Mapping[str, Ticker] | None = None,
) -> MarketUniverse:
    """Tradable markets quoted in one of the quote currencies with enough 24 h volume (in the quote)."""
    quotes = {q.upper() for q in s.market_quote_currencies}
    volume_needed = s.min_volume_24h_quote > 0
    kept: list[tuple[float, str]] = []
    excluded: dict[str, str] = {}
    for symbol, market in markets.items():
        if not market.tradable:
            excluded[symbol] = "not tradable"
            continue
        if market.quote.upper() not in quotes:
            excluded[symbol] = f"quote {market.quote} not in {','.join(sorted(quotes))}"
            continue
        ticker = (tickers or {}).get(symbol)
        volume = ticker.volume_24h_quote if ticker is not None else 0.0
        if volume_needed and ticker is None:
            excluded[symbol] = "no ticker, 24 h volume unknown"
            continue
        if volume < s.min_volume_24h_quote:
            excluded[symbol] = f"24 h volume {volume:,.0f} {market.quote} under {s.min_volume_24h_quote:,.0f}"
            continue
        kept.append((volume, symbol))
    kept.sort(key=lambda item: (-item[0], item[1]))
    return MarketUniverse(tuple(sym for _, sym in kept), excluded)


def load_universe(broker: Broker, s: StrategySettings) -> MarketUniverse:
    """One market list and one ticker request for the whole brokerage."""
    markets = broker.markets()
    quotes = {q.upper() for q in s.market_quote_currencies}
    candidates: Sequence[str] = [sym for sym, m in markets.items() if m.tradable and m.quote.upper() in quotes]
    tickers = broker.tickers(candidates) if candidates else {}
    return select_markets(markets, s, tickers)
