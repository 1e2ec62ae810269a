"""The matching core: fills with fee and slippage, refusals with neutral codes, holds, faults seeded."""

from __future__ import annotations

import pytest

from bot.clock import ManualClock
from bot.sim.exchange import SimExchange, SimOrderError
from bot.sim.faults import FaultPlan
from bot.sim.prices import SyntheticMarket

T = 1_750_000_000.0


@pytest.fixture
def exchange() -> SimExchange:
    ex = SimExchange(SyntheticMarket(5, 24, T), ManualClock(T), seed=5)
    ex.create_account("a", {"USD": 10_000.0})
    return ex


def test_market_buy_fills_at_price_plus_slippage_with_fee(exchange: SimExchange) -> None:
    mid = exchange.price("ETH-USD")
    order = exchange.place_order("a", "ETH-USD", "buy", base_qty=1.0, client_order_id="c1")
    assert order.status == "closed" and order.filled_base == 1.0
    assert order.avg_price > mid
    assert order.fee == pytest.approx(order.cost * exchange.settings.sim_taker_fee)
    balances = exchange.balances("a")
    assert balances["ETH"].total == 1.0
    assert balances["USD"].total == pytest.approx(10_000.0 - order.cost - order.fee)
    bigger = exchange.place_order("a", "ETH-USD", "buy", base_qty=2.0)
    assert bigger.avg_price > order.avg_price  # size-dependent slippage


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"symbol": "NOPE-USD", "side": "buy", "base_qty": 1.0}, "UNKNOWN_MARKET"),
        ({"symbol": "BTC-USD", "side": "buy", "base_qty": 1.0}, "INSUFFICIENT_FUNDS"),
        ({"symbol": "BTC-USD", "side": "buy", "base_qty": 0.00001}, "ORDER_MINIMUM"),
        ({"symbol": "SHIB-USD", "side": "buy", "base_qty": 400_000.5}, "PRECISION"),
        ({"symbol": "BTC-USD", "side": "hold", "base_qty": 1.0}, "INVALID_ARGUMENTS"),
    ],
)
def test_refusals_carry_neutral_codes(exchange: SimExchange, kwargs: dict, code: str) -> None:
    with pytest.raises(SimOrderError) as refused:
        exchange.place_order("a", **kwargs)
    assert refused.value.code == code
    assert exchange.orders("a") == []


def test_resting_limit_order_holds_funds_until_canceled(exchange: SimExchange) -> None:
    price = round(exchange.price("ETH-USD") * 0.5, 2)
    order = exchange.place_order("a", "ETH-USD", "buy", "limit", base_qty=1.0, limit_price=price, client_order_id="x")
    assert order.status == "open"
    assert exchange.balances("a")["USD"].hold == pytest.approx(price * (1 + exchange.settings.sim_maker_fee))
    with pytest.raises(SimOrderError) as duplicate:
        exchange.place_order("a", "ETH-USD", "buy", base_qty=0.01, client_order_id="x")
    assert duplicate.value.code == "DUPLICATE_CLIENT_ID"
    assert exchange.cancel("a", order.order_id).status == "canceled"
    assert exchange.balances("a")["USD"].hold == 0.0
    assert exchange.place_order("a", "ETH-USD", "buy", base_qty=0.01, client_order_id="x").status == "closed"


def test_fault_plan_is_seeded_and_specific_rules_win() -> None:
    def draws(seed: int) -> list[tuple[bool, bool]]:
        plan = FaultPlan(seed)
        plan.set(face="kraken", http_5xx_rate=0.3, drop_after_execute_rate=0.3)
        return [(d.http_5xx, d.drop_after_execute) for d in (plan.decide("kraken", "AddOrder") for _ in range(200))]

    assert draws(1) == draws(1) != draws(2)
    plan = FaultPlan(0)
    plan.set(face="kraken", latency=0.5)
    plan.set(face="kraken", endpoint="AddOrder", forced_error="EAPI:Invalid nonce")
    assert plan.decide("kraken", "AddOrder").error == "EAPI:Invalid nonce"
    assert plan.decide("kraken", "Balance").latency == 0.5
    assert not plan.decide("coinbase", "Balance").any
    plan.clear()
    assert not plan.decide("kraken", "AddOrder").any
