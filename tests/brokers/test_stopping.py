"""Once the bot stops, no order or exchange call starts and no wait in an adapter outlives the stop (issue 11, #3).

Real Kraken adapters over HTTP against the simulator. Each test starts something that would wait (the
rate limiter, the order look-up delay), sets the stop event the trader hands the adapter, and checks
that the wait ends at once and that nothing new reached the exchange.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.brokers import telemetry
from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import StopRequested
from bot.clock import ManualClock
from bot.execution.ledger import ExecutionLedger, OrderIntent
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from bot.state.store import StateStore
from tests.brokers.conftest import BROKERAGES, START, ContractEnv


def _stop(broker: object) -> threading.Event:
    event = threading.Event()
    broker.stop_token.follow(event)  # type: ignore[attr-defined]
    return event


def test_no_order_is_sent_once_stopping_and_it_is_left_for_the_next_start(kraken: ContractEnv) -> None:
    broker = kraken.broker("acct")
    broker.markets()
    stop = _stop(broker)
    stop.set()
    result = broker.place_order(OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("50")))
    assert result.status is OrderStatus.IN_FLIGHT and "not sent" in result.reason
    assert kraken.exchange.orders("acct") == []
    with pytest.raises(StopRequested):
        broker.balances()


def test_the_rate_limiters_wait_ends_at_the_stop(kraken: ContractEnv) -> None:
    broker = kraken.broker("acct", kraken_rate_counter_max="2", kraken_rate_decay_per_second="0.001",
                           kraken_rate_headroom="0")
    broker.balances()
    broker.balances()  # the counter is full: the next call would wait ~1000 s
    stop = _stop(broker)
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            broker.balances()
            outcome.append(None)
        except BaseException as error:  # the assertion below names it
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    caller.join(timeout=0.3)
    assert caller.is_alive()  # waiting on the counter, as it should
    stopped = time.monotonic()
    stop.set()
    caller.join(timeout=5)
    assert not caller.is_alive() and time.monotonic() - stopped < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], StopRequested)
    assert broker.limiter.waited_seconds > 0  # type: ignore[attr-defined]


@pytest.fixture
def heard() -> Iterator[list[tuple[str, str, str]]]:
    calls: list[tuple[str, str, str]] = []

    def listener(broker: str, endpoint: str, seconds: float, outcome: str) -> None:
        calls.append((broker, endpoint, outcome))

    telemetry.add_listener(listener)
    yield calls
    telemetry.remove_listener(listener)


def test_the_look_up_delay_after_a_lost_order_ends_at_the_stop(kraken: ContractEnv, heard: list) -> None:
    broker = kraken.broker("acct", order_lookup_delay_seconds="60", order_lookup_attempts="5")
    broker.markets()
    looked_up = threading.Event()

    def on_call(broker_name: str, endpoint: str, seconds: float, outcome: str) -> None:
        if endpoint == "OpenOrders":
            looked_up.set()

    telemetry.add_listener(on_call)
    kraken.exchange.faults.set(face="kraken", endpoint="AddOrder", http_5xx_rate=1.0)
    kraken.exchange.faults.set(face="kraken", endpoint="OpenOrders", http_5xx_rate=1.0)
    stop = _stop(broker)
    results = []
    placing = threading.Thread(target=lambda: results.append(broker.place_order(
        OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("50")))))
    placing.start()
    assert looked_up.wait(5)  # the first look-up failed: the adapter now waits 60 s (of the test's clock)
    stopped = time.monotonic()
    stop.set()
    placing.join(timeout=5)
    telemetry.remove_listener(on_call)
    assert not placing.is_alive() and time.monotonic() - stopped < 1.0
    assert results[0].status is OrderStatus.IN_FLIGHT  # settled by its client order id at the next start
    assert [endpoint for _, endpoint, _ in heard].count("AddOrder") == 1  # never sent again


def test_kraken_calls_are_reported_with_kraken_outcomes(kraken: ContractEnv, heard: list) -> None:
    broker = kraken.broker("acct")
    broker.balances()
    kraken.exchange.faults.set(face="kraken", endpoint="BalanceEx", forced_error="EAPI:Rate limit exceeded")
    with pytest.raises(Exception, match="Rate limit"):
        broker.balances()
    kraken.exchange.faults.set(face="kraken", endpoint="BalanceEx", forced_error="EAPI:Invalid nonce")
    with pytest.raises(Exception, match="nonce"):
        broker.balances()
    outcomes = [(endpoint, outcome) for name, endpoint, outcome in heard if name == "kraken"]
    assert ("AssetPairs", "ok") in outcomes and ("BalanceEx", "ok") in outcomes
    assert ("BalanceEx", "rate_limited") in outcomes
    assert outcomes.count(("BalanceEx", "nonce")) == 2  # the refusal and its one retry after the resync
    counts = broker.call_log.counts()
    assert counts.failed == 3 and "nonce" in counts.last_failure.lower()


@pytest.fixture(params=sorted(BROKERAGES))
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContractEnv]:
    """Each brokerage's simulator face with its real adapter (Kraken on krakenex, Coinbase and Alpaca on requests)."""
    brokerage = BROKERAGES[request.param]
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=7, n_markets=24, start_time=START), clock, seed=7)
    with SimulatorServer(exchange, faces=(brokerage.face,)) as server:
        yield ContractEnv(brokerage, request.param, exchange, server, clock, tmp_path)


def test_every_adapter_reports_its_calls_and_starts_none_once_stopping(venue: ContractEnv, heard: list) -> None:
    contract = venue
    broker = contract.broker("acct")
    broker.balances()
    assert broker.call_log.counts().calls > 0 and broker.call_log.counts().failed == 0
    assert {name for name, _, outcome in heard if outcome == "ok"} == {contract.name}
    stop = _stop(broker)
    stop.set()
    calls = broker.call_log.counts().calls
    with pytest.raises(StopRequested):
        broker.balances()
    assert broker.call_log.counts().calls == calls  # nothing was sent


def test_the_ledger_writes_no_order_once_stopping_and_the_plan_stays_for_the_next_start(
    kraken: ContractEnv, tmp_path: Path
) -> None:
    broker = kraken.broker("acct")
    broker.markets()
    store = StateStore(tmp_path / "nija.sqlite3", clock=kraken.clock)
    ledger = ExecutionLedger(store, kraken.settings(), kraken.clock)
    _stop(broker).set()
    intent = OrderIntent("kraken", "acct", "BTC-USD", Side.BUY, "entry", new_client_order_id(),
                         quote_notional=Decimal("50"))
    with pytest.raises(StopRequested):
        ledger.submit(intent, broker)
    assert store.orders("kraken", "acct") == []  # no intent written: nothing for the next start to look up
    assert kraken.exchange.orders("acct") == []
    store.close()
