"""The trader's life cycle on the simulator: accounts picked up without a restart, ENTRY_BLOCKING with exits
still working, start-up reconciliation that reports what it cannot match, and an order a crash left in flight
settled (and copied) after the restart, never treated as rejected."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from bot.brokers.base import new_client_order_id
from bot.state.records import CopyStatus, OrderPlan, OrderRecord, PositionRecord
from bot.trading.pacing import OrderPacer
from bot.trading.strategy_account import StrategyAccount
from tests.e2e.conftest import PaperRun

MINUTE = 60.0
FAST = {"MONITOR_SECONDS": "60", "LOW_CAPITAL_MONITOR_SECONDS": "60"}


def test_an_unfunded_follower_is_picked_up_when_funded_without_a_restart(
    paper_factory: Callable[..., PaperRun],
) -> None:
    run = paper_factory(PAPER_FOLLOWER_BALANCES="2500,0.1", **FAST)
    run.trader.start()
    state = run.store.get_account_state("kraken", "demo_user_2")
    assert state is not None and state.state == "UNFUNDED" and "deposit" in state.fix
    assert "kraken:demo_user_2" not in [w.name for w in run.trader.workers()]
    assert run.trader.recheck() == []  # still unfunded: nothing starts
    run.session.exchange.deposit("kraken-demo_user_2", "USD", 300.0)
    started = run.trader.recheck()
    assert [s.label for s in started] == ["kraken:demo_user_2"]
    run.run_for(5 * MINUTE)
    state = run.store.get_account_state("kraken", "demo_user_2")
    assert state is not None and state.state == "FOLLOWING" and abs(state.equity - 300.1) < 0.01
    worker = next(w for w in run.trader.workers() if w.name == "kraken:demo_user_2")
    assert worker.is_alive() and worker.health.snapshot().cycles >= 5
    dispatcher = run.trader.brokerages["kraken"].dispatcher
    assert dispatcher is not None and "demo_user_2" in [f.account_id for f in dispatcher.followers]
    assert "kraken:demo_user_2 is now FOLLOWING (was UNFUNDED)" in run.out.getvalue()


def test_entry_blocking_stops_entries_but_exits_and_their_copies_go_on(
    paper_factory: Callable[..., PaperRun],
) -> None:
    run = paper_factory(ENTRY_BLOCKING="true", **FAST)
    exchange, store, now = run.session.exchange, run.store, run.clock.now()
    price = exchange.price("ATOM-USD")
    exchange.deposit("kraken-master", "ATOM", 50.0)
    # A position whose stop is above the market: the first monitoring pass must sell it.
    store.save_position(PositionRecord("kraken", "master", "ATOM-USD", price * 1.03, Decimal(50), Decimal(50),
                                       price * 1.01, price * 1.01, price * 0.02, now, trade_id="atom"))
    # Reconciliation material: a holding the store does not know, and a stored position with no holding.
    exchange.deposit("kraken-master", "SOL", 1.5)
    store.save_position(PositionRecord("kraken", "demo_user_1", "ETH-USD", 3000.0, Decimal("0.5"), Decimal("0.5"),
                                       2900.0, 2900.0, 100.0, now, is_copy=True))
    run.trader.start()
    text = run.out.getvalue()
    assert "UNTRACKED HOLDING 1.5 SOL" in text
    assert "POSITION MISMATCH ETH-USD: store had 0.5 ETH, exchange holds none; removed" in text
    assert "ENTRY_BLOCKING=true" in text
    assert store.get_account_state("kraken", "master").state == "ENTRY_BLOCKED"  # type: ignore[union-attr]
    run.run_for(3 * 3600)
    assert store.get_position("kraken", "master", "ATOM-USD") is None
    assert exchange.balances("kraken-master")["ATOM"].total == 0.0
    orders = store.orders("kraken")
    assert orders and all(o.side == "sell" for o in orders)  # exits only, no entry anywhere
    (signal,) = store.signals("kraken")
    assert signal.side == "sell" and signal.fraction_sold == 1.0
    for follower in ("demo_user_1", "demo_user_2"):
        event = store.get_copy(signal.signal_id, follower)
        assert event is not None and event.status is CopyStatus.SKIPPED
        assert "no copied ATOM-USD position" in event.reason


def test_an_order_left_in_flight_by_a_crash_is_settled_booked_and_copied_after_restart(
    paper_factory: Callable[..., PaperRun],
) -> None:
    run = paper_factory(**FAST)
    exchange, store = run.session.exchange, run.store
    coid = new_client_order_id()
    price = exchange.price("LTC-USD")
    distance = price * 0.0224  # the planned stop: 2.24 % under the decision price
    # The previous run wrote the intent (with its plan), sent it, and died before the answer came back.
    store.record_order(OrderRecord(
        coid, "kraken", "master", "LTC-USD", "buy", "in_flight", requested_quote=Decimal("500.00"), purpose="entry",
        plan=OrderPlan(equity_before=10_000.0, emits_signal=True, stop_distance=distance,
                       planned_stop=price - distance),
    ))
    exchange.place_order("kraken-master", "LTC-USD", "buy", quote_notional=500.0, client_order_id=coid)
    run.trader.start()
    assert f"settled buy LTC-USD {coid[:8]}: filled" in run.out.getvalue()
    run.run_for(2 * MINUTE)
    order = store.get_order(coid)
    assert order is not None and order.status == "filled"
    position = store.get_position("kraken", "master", "LTC-USD")
    held = exchange.balances("kraken-master")["LTC"].total
    assert position is not None and abs(float(position.quantity) - held) < 1e-9
    # the stop planned before the crash, at the fill price: not STOP_MAX_FRACTION (issue 10, failure 5)
    assert position.initial_stop == pytest.approx(float(order.avg_price) - distance)
    (signal,) = store.signals("kraken")
    assert signal.master_client_order_id == coid and signal.side == "buy"
    assert signal.master_stop_price == position.initial_stop and signal.master_equity == 10_000.0
    for follower, equity in (("demo_user_1", 2500.0), ("demo_user_2", 400.0)):
        event = store.get_copy(signal.signal_id, follower)
        assert event is not None and event.status is CopyStatus.FILLED
        expected = min(float(signal.quote_notional) * equity / signal.master_equity, 0.10 * equity)
        assert abs(float(event.requested_quote or 0) - expected) <= 0.01
        copied = store.get_position("kraken", follower, "LTC-USD")
        assert copied is not None and copied.stop_price == signal.master_stop_price


def test_observe_only_says_loudly_that_followers_will_not_trade(paper_factory: Callable[..., PaperRun]) -> None:
    run = paper_factory(COPY_OBSERVE_ONLY="true")
    run.trader.start()
    assert "FOLLOWERS WILL NOT TRADE" in run.out.getvalue()
    for follower in ("demo_user_1", "demo_user_2"):
        state = run.store.get_account_state("kraken", follower)
        assert state is not None and state.state == "STANDING_DOWN" and "COPY_OBSERVE_ONLY=false" in state.fix


def test_independent_mode_makes_every_funded_user_run_apex(paper_factory: Callable[..., PaperRun]) -> None:
    run = paper_factory(COPY_TRADING_MODE="INDEPENDENT")
    run.trader.start()
    assert run.trader.brokerages["kraken"].dispatcher is None
    workers = {w.name: w for w in run.trader.workers()}
    assert set(workers) == {"kraken:master", "kraken:demo_user_1", "kraken:demo_user_2"}
    assert all(w.work.runs_strategy for w in workers.values())
    assert {s.status.state for s in run.trader.slots} == {"TRADING"}


def test_an_account_thread_refuses_another_brokerages_broker(paper_factory: Callable[..., PaperRun]) -> None:
    """The old bot's shared strategy object sent an order to the wrong brokerage; each thread checks its own."""
    run = paper_factory(("kraken", "alpaca"))
    run.trader.start()
    kraken = next(s for s in run.trader.slots if s.label == "kraken:master")
    alpaca = next(s for s in run.trader.slots if s.label == "alpaca:master")
    market_data = run.trader.brokerages["kraken"].market_data
    assert market_data is not None and alpaca.broker is not None and kraken.broker is not None
    assert kraken.broker is not alpaca.broker and kraken.broker is not run.trader.brokerages["kraken"].data_broker
    with pytest.raises(ValueError, match="was given a alpaca broker"):
        StrategyAccount(kraken.account, alpaca.broker, run.store, run.settings, run.clock, market_data,
                        lambda: (), OrderPacer(run.clock, lambda s: False))


def test_a_stock_stop_on_a_closed_market_waits_quietly_and_the_crypto_side_trades_on(
    paper_factory: Callable[..., PaperRun], caplog: pytest.LogCaptureFixture,
) -> None:
    """START is a Sunday evening: Alpaca's stock market is closed. A stock position under its stop is not sold
    (the sale cannot execute), no order is sent, no warning repeats every pass, and the account stays healthy."""
    run = paper_factory(("alpaca",), **FAST)
    exchange = run.session.exchange
    price = exchange.price("AAPL-USD")
    exchange.deposit("alpaca-master", "AAPL", 2.0)
    run.store.save_position(PositionRecord(
        "alpaca", "master", "AAPL-USD", price * 1.10, Decimal(2), Decimal(2), price * 1.05, price * 1.05,
        price * 0.05, run.clock.now() - 3600.0,
    ))
    run.trader.start()
    with caplog.at_level("WARNING"):
        run.run_for(10 * MINUTE)
    assert [o for o in exchange.orders("alpaca-master") if "AAPL" in o.symbol] == []
    assert run.store.get_position("alpaca", "master", "AAPL-USD") is not None
    assert not [r for r in caplog.records if "AAPL" in r.getMessage()], [r.getMessage() for r in caplog.records]
    health = run.store.get_health("alpaca", "master")
    assert health is not None and health.consecutive_errors == 0 and health.cycles >= 10
