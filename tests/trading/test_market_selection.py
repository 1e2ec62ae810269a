"""Market selection: quote currencies and 24 h volume from settings, disabled_symbols per account, ~730 markets."""

from __future__ import annotations

import random
from decimal import Decimal

from bot.brokers.base import MarketInfo, Ticker
from bot.config.sections.strategy import StrategySettings
from bot.trading.market_selection import MarketUniverse, normalise_symbol, select_markets


def market(symbol: str, tradable: bool = True) -> MarketInfo:
    base, quote = symbol.split("-")
    return MarketInfo(symbol, base, quote, f"{base}{quote}", Decimal("0.0001"), Decimal("0.5"), 8, 2, 0.0026,
                      tradable)


def ticker(symbol: str, last: float, volume_base: float) -> Ticker:
    return Ticker(symbol, last, last, last, volume_base)


def many_markets(count: int = 730, seed: int = 3) -> tuple[dict[str, MarketInfo], dict[str, Ticker]]:
    rng = random.Random(seed)
    quotes = ["USD", "USDT", "EUR", "BTC"]
    markets, tickers = {}, {}
    for i in range(count):
        symbol = f"A{i:03d}-{quotes[i % 4]}"
        markets[symbol] = market(symbol, tradable=i % 50 != 7)
        tickers[symbol] = ticker(symbol, rng.uniform(0.01, 500), rng.uniform(0, 1e6))
    return markets, tickers


def test_quote_currencies_and_volume_come_from_settings() -> None:
    markets, tickers = many_markets()
    s = StrategySettings(market_quote_currencies=("USD", "USDT"), min_volume_24h_quote=1_000_000.0)
    universe = select_markets(markets, s, tickers)
    assert universe.symbols
    for symbol in universe.symbols:
        assert markets[symbol].quote in ("USD", "USDT") and markets[symbol].tradable
        assert tickers[symbol].volume_24h * tickers[symbol].last >= 1_000_000.0
    expected = {
        sym for sym, m in markets.items()
        if m.tradable and m.quote in ("USD", "USDT") and tickers[sym].volume_24h_quote >= 1_000_000.0
    }
    assert set(universe.symbols) == expected
    assert set(universe.excluded) == set(markets) - expected  # every left-out market says why
    volumes = [tickers[sym].volume_24h_quote for sym in universe.symbols]
    assert volumes == sorted(volumes, reverse=True)  # busiest first


def test_defaults_keep_every_tradable_usd_market_without_tickers() -> None:
    markets, _ = many_markets()
    universe = select_markets(markets, StrategySettings())
    assert set(universe.symbols) == {s for s, m in markets.items() if m.quote == "USD" and m.tradable}
    assert len(universe.symbols) > 150


def test_volume_filter_without_a_ticker_excludes_with_a_reason() -> None:
    markets = {"BTC-USD": market("BTC-USD"), "ETH-USD": market("ETH-USD")}
    tickers = {"BTC-USD": ticker("BTC-USD", 50_000.0, 100.0)}
    universe = select_markets(markets, StrategySettings(min_volume_24h_quote=1.0), tickers)
    assert universe.symbols == ("BTC-USD",)
    assert "no ticker" in universe.excluded["ETH-USD"]


def test_disabled_symbols_per_account() -> None:
    universe = MarketUniverse(("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"))
    assert universe.for_account(frozenset()) == universe.symbols
    assert universe.for_account({"eth/usd", "XRP_USD"}) == ("BTC-USD", "SOL-USD")
    assert universe.for_account({"DOGE-USD"}) == universe.symbols  # unknown symbols are harmless
    assert normalise_symbol(" btc/usd ") == "BTC-USD"
