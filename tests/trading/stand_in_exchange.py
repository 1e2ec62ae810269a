"""A stand-in exchange for tests that need only a call or two of the Broker contract (not a test module).

Every call raises NotImplementedError, so a test that reaches one it did not mean to fails loudly; the
test's subclass answers the calls it is about. It stands in for an exchange, never for our code.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from bot.brokers.base import BalanceSnapshot, Broker, MarketInfo, OrderRequest, OrderResult, Ticker


class StandInExchange(Broker):
    """The Broker contract with every exchange call unanswered."""

    def _load_markets(self) -> dict[str, MarketInfo]:
        raise NotImplementedError

    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        raise NotImplementedError

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        raise NotImplementedError

    def balances(self) -> BalanceSnapshot:
        raise NotImplementedError

    def _submit_order(self, request: OrderRequest, market: MarketInfo) -> OrderResult:
        raise NotImplementedError

    def _find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        raise NotImplementedError

    def open_orders(self) -> list[OrderResult]:
        raise NotImplementedError

    def cancel_order(self, order: OrderResult) -> None:
        raise NotImplementedError
