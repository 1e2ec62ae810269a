"""Kraken names <-> bot names: BTC-USD <-> XXBTZUSD / XBTUSD / XBT/USD; assets XXBT, ZUSD, SOL <-> BTC, USD, SOL.

Built from AssetPairs, never from a hard-coded pair list: the wsname (``XBT/USD``) gives each pair's
base and quote altnames, and the pair's ``base``/``quote`` fields give the asset codes those
altnames belong to. Only Kraken's own two renamings (XBT = BTC, XDG = DOGE) are constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.brokers.amounts import to_decimal
from bot.brokers.base import MarketInfo

RENAMED = {"XBT": "BTC", "XDG": "DOGE"}  # Kraken altname -> the name everyone else uses
BALANCE_SUFFIXES = (".F", ".B", ".S", ".M", ".P", ".T", ".HOLD")  # earn/staking variants of an asset


def bot_asset(altname: str) -> str:
    return RENAMED.get(altname.upper(), altname.upper())


@dataclass
class KrakenSymbols:
    markets: dict[str, MarketInfo] = field(default_factory=dict)  # bot symbol -> market
    pair_to_symbol: dict[str, str] = field(default_factory=dict)  # canonical, altname, wsname -> bot symbol
    asset_to_bot: dict[str, str] = field(default_factory=dict)  # XXBT, XBT, ZUSD, SOL -> BTC, BTC, USD, SOL
    altnames: dict[str, str] = field(default_factory=dict)  # bot symbol -> altname (XBTUSD)

    @classmethod
    def from_asset_pairs(cls, pairs: Mapping[str, Mapping[str, Any]]) -> KrakenSymbols:
        found = cls()
        for canonical, pair in pairs.items():
            if canonical.endswith(".d") or "wsname" not in pair:  # dark-pool twins and pairs without a ws name
                continue
            base_alt, _, quote_alt = str(pair["wsname"]).partition("/")
            if not quote_alt:
                continue
            base, quote = bot_asset(base_alt), bot_asset(quote_alt)
            symbol = f"{base}-{quote}"
            fees = pair.get("fees") or [[0, 0.26]]
            found.asset_to_bot.update({
                str(pair.get("base", base_alt)): base, base_alt: base,
                str(pair.get("quote", quote_alt)): quote, quote_alt: quote,
            })
            found.markets[symbol] = MarketInfo(
                symbol=symbol, base=base, quote=quote, exchange_symbol=canonical,
                min_base_qty=to_decimal(pair.get("ordermin")), min_notional=to_decimal(pair.get("costmin")),
                base_decimals=int(pair["lot_decimals"]), price_decimals=int(pair["pair_decimals"]),
                taker_fee=float(fees[0][1]) / 100.0, tradable=pair.get("status", "online") == "online",
                quote_decimals=int(pair.get("cost_decimals", 2)),
            )
            altname = str(pair.get("altname", canonical))
            found.altnames[symbol] = altname
            for name in (canonical, altname, str(pair["wsname"])):
                found.pair_to_symbol[name] = symbol
        return found

    def asset(self, code: str) -> str:
        """A Balance key (XXBT, ZUSD, XBT.F, SOL) as a bot asset (BTC, USD, BTC, SOL)."""
        upper = code.upper()
        for suffix in BALANCE_SUFFIXES:
            if upper.endswith(suffix):
                upper = upper[: -len(suffix)]
                break
        return self.asset_to_bot.get(upper) or bot_asset(upper)

    def symbol_of_pair(self, name: str) -> str | None:
        return self.pair_to_symbol.get(name)
