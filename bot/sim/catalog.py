"""The simulated markets: realistic price levels and Kraken-like minimums and precision.

Numbers are close to what Kraken's AssetPairs showed for these USD pairs (ordermin in base units,
costmin in USD); SHIB and PEPE trade in whole units (0 lot decimals) like real meme-coin pairs, so
rounding to few lot decimals is exercised.

STOCKS are US equities as Alpaca trades them (fractional shares to 9 decimals, cent prices, a 1 USD
minimum order value). They are not in CATALOG: a price source includes them only when asked, and only
the Alpaca face offers them (a stock has no pair on Kraken or Coinbase).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MarketSpec:
    symbol: str  # BTC-USD
    ref_price: float  # USD price level the synthetic market starts around
    volatility: float  # relative to BTC (1.0)
    quote_volume_per_minute: float  # USD traded per minute on average
    ordermin: float  # base units
    costmin: float  # USD
    lot_decimals: int
    pair_decimals: int
    asset_class: str = "crypto"

    @property
    def base(self) -> str:
        return self.symbol.split("-", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("-", 1)[1]


CATALOG: tuple[MarketSpec, ...] = (
    MarketSpec("BTC-USD", 95_000.0, 1.0, 2_500_000.0, 0.00005, 0.5, 8, 1),
    MarketSpec("ETH-USD", 3_300.0, 1.2, 1_200_000.0, 0.002, 0.5, 8, 2),
    MarketSpec("SOL-USD", 180.0, 1.6, 600_000.0, 0.02, 0.5, 8, 2),
    MarketSpec("XRP-USD", 2.30, 1.5, 400_000.0, 2.0, 0.5, 8, 5),
    MarketSpec("ADA-USD", 0.90, 1.6, 150_000.0, 5.0, 0.5, 8, 6),
    MarketSpec("DOGE-USD", 0.32, 1.8, 200_000.0, 20.0, 0.5, 8, 7),
    MarketSpec("LTC-USD", 100.0, 1.3, 120_000.0, 0.05, 0.5, 8, 2),
    MarketSpec("DOT-USD", 7.0, 1.6, 80_000.0, 0.6, 0.5, 8, 4),
    MarketSpec("LINK-USD", 20.0, 1.6, 90_000.0, 0.2, 0.5, 8, 5),
    MarketSpec("AVAX-USD", 35.0, 1.7, 80_000.0, 0.1, 0.5, 8, 2),
    MarketSpec("ATOM-USD", 8.0, 1.5, 40_000.0, 0.5, 0.5, 8, 4),
    MarketSpec("UNI-USD", 10.0, 1.7, 40_000.0, 0.5, 0.5, 8, 3),
    MarketSpec("XLM-USD", 0.40, 1.5, 50_000.0, 20.0, 0.5, 8, 6),
    MarketSpec("BCH-USD", 450.0, 1.3, 60_000.0, 0.01, 0.5, 8, 2),
    MarketSpec("ETC-USD", 27.0, 1.5, 30_000.0, 0.3, 0.5, 8, 3),
    MarketSpec("TRX-USD", 0.25, 1.2, 30_000.0, 40.0, 0.5, 8, 6),
    MarketSpec("SHIB-USD", 0.000022, 2.0, 60_000.0, 300_000.0, 0.5, 0, 8),
    MarketSpec("PEPE-USD", 0.000018, 2.4, 50_000.0, 500_000.0, 0.5, 0, 9),
    MarketSpec("NEAR-USD", 5.0, 1.8, 30_000.0, 1.0, 0.5, 8, 4),
    MarketSpec("AAVE-USD", 300.0, 1.6, 40_000.0, 0.02, 0.5, 8, 2),
    MarketSpec("FIL-USD", 5.0, 1.7, 20_000.0, 1.0, 0.5, 8, 3),
    MarketSpec("ALGO-USD", 0.35, 1.6, 20_000.0, 10.0, 0.5, 8, 5),
    MarketSpec("XMR-USD", 200.0, 1.2, 20_000.0, 0.03, 0.5, 8, 2),
    MarketSpec("ZEC-USD", 60.0, 1.5, 15_000.0, 0.1, 0.5, 8, 2),
    MarketSpec("MKR-USD", 1_500.0, 1.5, 15_000.0, 0.002, 0.5, 8, 1),
    MarketSpec("ARB-USD", 0.80, 1.9, 30_000.0, 5.0, 0.5, 8, 4),
    MarketSpec("OP-USD", 1.90, 1.9, 25_000.0, 2.5, 0.5, 8, 4),
    MarketSpec("INJ-USD", 25.0, 2.0, 20_000.0, 0.2, 0.5, 8, 3),
    MarketSpec("SUI-USD", 3.50, 2.0, 40_000.0, 1.5, 0.5, 8, 4),
    MarketSpec("USDT-USD", 1.0, 0.0, 300_000.0, 5.0, 0.5, 8, 4),
)

# Stocks move less than crypto (volatility relative to BTC's) and trade far more dollar volume.
STOCKS: tuple[MarketSpec, ...] = (
    MarketSpec("AAPL-USD", 200.0, 0.35, 2_000_000.0, 0.0, 1.0, 9, 2, asset_class="stock"),
    MarketSpec("MSFT-USD", 450.0, 0.30, 1_500_000.0, 0.0, 1.0, 9, 2, asset_class="stock"),
    MarketSpec("NVDA-USD", 130.0, 0.60, 4_000_000.0, 0.0, 1.0, 9, 2, asset_class="stock"),
    MarketSpec("SPY-USD", 590.0, 0.20, 5_000_000.0, 0.0, 1.0, 9, 2, asset_class="stock"),
)

_BY_SYMBOL = {spec.symbol: spec for spec in (*CATALOG, *STOCKS)}


def spec_for(symbol: str, price: float | None = None) -> MarketSpec:
    """The catalogue entry, or sensible Kraken-like rules derived from the price level for other symbols."""
    found = _BY_SYMBOL.get(symbol)
    if found is not None:
        return found
    level = price if price and price > 0 else 1.0
    pair_decimals = max(1, min(10, 5 - math.floor(math.log10(level))))
    ordermin = float(f"{5.0 / level:.1g}")
    return MarketSpec(symbol, level, 1.5, 20_000.0, ordermin, 0.5, 8, pair_decimals)

