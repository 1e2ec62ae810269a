"""USD prices shared by the Kraken adapters of one bot: one Ticker request values every account's holdings.

A copy fan-out reads every follower's balance at once; without the board each read asked Kraken for
the same Ticker (100 followers: 100 identical public requests, and one more round trip per copy).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import ExchangeUnavailable
from bot.brokers.kraken_prices import PriceBoard
from bot.clock import ManualClock
from tests.brokers.conftest import ContractEnv

START = 1_750_000_000.0


def test_callers_missing_a_price_at_once_share_one_fetch() -> None:
    board, clock = PriceBoard(), ManualClock(START)
    fetched: list[list[str]] = []
    gate = threading.Event()

    def fetch(symbols: list[str]) -> dict[str, float]:
        fetched.append(symbols)
        gate.wait(5)  # the first caller's request is in flight; the others must wait for it, not send their own
        board.note({s: 100.0 for s in symbols}, clock)
        return {s: 100.0 for s in symbols}

    results: list[dict[str, float]] = []
    callers = [threading.Thread(target=lambda: results.append(board.prices(["BTC-USD"], clock, 5.0, fetch)))
               for _ in range(8)]
    for caller in callers:
        caller.start()
    gate.set()
    for caller in callers:
        caller.join(5)
    assert fetched == [["BTC-USD"]] and results == [{"BTC-USD": 100.0}] * 8


def test_prices_age_out_and_an_older_sighting_never_replaces_a_newer_one() -> None:
    board, clock = PriceBoard(), ManualClock(START)
    board.note({"BTC-USD": 100.0}, clock)
    board.note({"BTC-USD": 90.0}, clock, at=START - 1.0)  # a fill from before the last read
    assert board.fresh(["BTC-USD", "ETH-USD"], clock, 5.0) == {"BTC-USD": 100.0}
    clock.advance(5.5)
    assert board.fresh(["BTC-USD"], clock, 5.0) == {}
    board.note({"ETH-USD": 3.0}, clock, at=clock.now() - 60.0)  # an old fill seen now is old
    assert board.fresh(["ETH-USD"], clock, 5.0) == {}
    calls: list[list[str]] = []
    assert board.prices(["BTC-USD"], clock, 0.0, lambda s: calls.append(s) or {"BTC-USD": 1.0}) == {"BTC-USD": 1.0}
    assert calls == [["BTC-USD"]]  # max age 0: sharing is off, every caller reads its own


def _ticker_refused(kraken: ContractEnv) -> None:
    kraken.exchange.faults.set(face="kraken", endpoint="Ticker", forced_error="EService:Unavailable")


def test_one_accounts_ticker_values_every_accounts_holdings_until_it_is_too_old(kraken: ContractEnv) -> None:
    first = kraken.broker("first", {"USD": 100.0, "BTC": 0.01})
    others = [kraken.broker(f"other{i}", {"USD": 50.0, "BTC": 0.02}) for i in range(5)]
    btc = first.balances().prices_usd["BTC"]  # the one Ticker request
    _ticker_refused(kraken)
    for broker in others:  # every other account values its BTC at that price, asking nothing more
        snapshot = broker.balances()
        assert snapshot.prices_usd["BTC"] == btc and snapshot.equity == pytest.approx(50.0 + 0.02 * btc)
    assert kraken.exchange.faults.counts.get("error", 0) == 0
    kraken.clock.advance(kraken.settings().exchanges.kraken_price_max_age_seconds + 1.0)
    with pytest.raises(ExchangeUnavailable):
        others[0].balances()  # too old now: asked for again (and the refusal shows it was asked)


def test_a_fill_prices_the_holdings_of_every_account(kraken: ContractEnv) -> None:
    """The master's fill (a trade at that price) values each follower's coins at once: no Ticker per copy."""
    master = kraken.broker("master", {"USD": 10_000.0})
    follower = kraken.broker("follower", {"USD": 100.0, "BTC": 0.01})
    fill = master.place_order(OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("500")))
    assert fill.status is OrderStatus.FILLED
    _ticker_refused(kraken)
    assert follower.balances().prices_usd["BTC"] == pytest.approx(float(fill.avg_price))
    assert kraken.exchange.faults.counts.get("error", 0) == 0
