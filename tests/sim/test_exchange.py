"""The matching core: fills with fee and slippage, refusals with neutral codes, holds, faults seeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.sim.exchange import FeeModel, FillTiming, SimExchange, SimOrderError
from bot.sim.faults import FaultPlan
from bot.sim.persistence import SimStateFile
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


def test_an_accepted_order_executes_at_its_time_with_its_funds_on_hold(exchange: SimExchange) -> None:
    clock = exchange.clock
    assert isinstance(clock, ManualClock)
    fees = FeeModel(taker=0.0025, charged_in="received", base_decimals=9, quote_decimals=9)
    order = exchange.place_order("a", "ETH-USD", "buy", quote_notional=1_000.0, client_order_id="p1", fees=fees,
                                 timing=FillTiming(at=T + 60.0, wall_cap_seconds=None), lot_decimals=9)
    assert order.status == "open" and order.filled_base == 0.0
    assert exchange.balances("a")["USD"].available == pytest.approx(9_000.0)  # on hold until it executes
    clock.advance(59.0)
    assert exchange.order("a", order.order_id).status == "open"  # type: ignore[union-attr]
    clock.advance(3_600.0)  # looked at late: it executed at its own time, at that moment's price
    filled = exchange.order("a", order.order_id)
    assert filled is not None and filled.status == "closed" and filled.closed_at == T + 60.0
    assert filled.avg_price == pytest.approx(exchange.prices.price("ETH-USD", T + 60.0), rel=0.002)
    assert filled.fee == 0.0 and filled.fee_base == pytest.approx(round(filled.filled_base * 0.0025, 9), abs=1e-12)
    balances = exchange.balances("a")
    assert balances["ETH"].total == pytest.approx(filled.filled_base - filled.fee_base, abs=1e-12)
    assert balances["USD"].hold == 0.0 and balances["USD"].total == pytest.approx(10_000.0 - filled.cost)


def test_a_pending_order_survives_a_restart_of_the_exchange(tmp_path: Path) -> None:
    clock = ManualClock(T)
    first = SimExchange(SyntheticMarket(5, 24, T), clock, seed=5, state=SimStateFile(tmp_path / "sim.sqlite3"))
    first.create_account("a", {"USD": 10_000.0})
    order = first.place_order("a", "BTC-USD", "buy", quote_notional=500.0, client_order_id="p1",
                              timing=FillTiming(at=T + 30.0, steps=2, step_seconds=30.0))
    assert first.state is not None
    first.state.close()
    again = SimExchange(SyntheticMarket(5, 24, T), clock, seed=5, state=SimStateFile(tmp_path / "sim.sqlite3"))
    assert again.balances("a")["USD"].hold == pytest.approx(500.0)
    clock.advance(30.0)
    part = again.order("a", order.order_id)
    assert part is not None and part.status == "open" and part.filled_base > 0 and part.fills == 1
    clock.advance(30.0)
    done = again.order("a", order.order_id)
    assert done is not None and done.status == "closed" and done.fills == 2
    assert again.balances("a")["USD"].hold == 0.0
    assert again.balances("a")["USD"].total == pytest.approx(10_000.0 - done.cost - done.fee)
