"""UNKNOWN_ORDER_GRACE_SECONDS reaches the adapters through make_broker: a strategy account's pending order
the exchange does not know stays IN_FLIGHT for that long, then counts as never placed (not a hard-coded 120 s)."""

from __future__ import annotations

from decimal import Decimal

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from tests.brokers.conftest import ContractEnv
from tests.brokers.conftest import kraken as kraken  # the simulator fixture the adapter contract uses


def test_settle_waits_the_configured_grace_not_a_default(kraken: ContractEnv) -> None:  # noqa: F811 - the fixture
    broker = kraken.broker(unknown_order_grace_seconds="30")
    broker.markets()
    kraken.exchange.faults.set(face="kraken", http_5xx_rate=1.0)
    request = OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("50"))
    in_flight = broker.place_order(request)
    assert in_flight.status is OrderStatus.IN_FLIGHT
    kraken.exchange.faults.clear()
    kraken.clock.advance(29)
    assert broker.settle(in_flight).status is OrderStatus.IN_FLIGHT
    kraken.clock.advance(2)
    settled = broker.settle(in_flight)
    assert settled.status is OrderStatus.REJECTED
    assert settled.reason.startswith("never reached the exchange")
