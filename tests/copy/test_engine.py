"""The copy engine end to end: each real adapter over HTTP against its simulator face (docs/rules.md §5)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from bot.brokers.base import OrderRequest, Side, new_client_order_id
from bot.config.accounts import Role
from bot.copy.engine import CopyEngine, copy_client_order_id, copy_stop_price
from bot.copy.followers import Follower, eligible_followers
from bot.state.records import CopyStatus, SignalStatus
from tests.copy.conftest import SYMBOL, Desk, master_trade


def _sim_orders(desk: Desk, account_id: str) -> list:
    return list(desk.exchange.orders(account_id))


def _team(desk: Desk) -> tuple:
    master = desk.account("master", 10_000.0, role=Role.MASTER)
    followers = [
        desk.follower("alice", 2_500.0),
        desk.follower("bob", 400.0, risk_multiplier=2.0),
        desk.follower("tiny", 5.0),
    ]
    return desk.broker(master), followers


def test_entry_copied_once_to_each_follower_with_spec_sizes(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers, clock=desk.clock)
    signal = master_trade(master_broker, Side.BUY, quote=1_000.0, stop_fraction=0.03)
    ratio = signal.quote_notional / signal.master_equity

    summary = engine.on_master_fill(signal)

    assert summary.processed == 3 and summary.succeeded == 2 and summary.failed == {}
    assert "under the exchange minimum" in summary.skipped["tiny"]
    alice, bob = _sim_orders(desk, "alice"), _sim_orders(desk, "bob")
    assert len(alice) == 1 and len(bob) == 1 and _sim_orders(desk, "tiny") == []
    # alice: master notional x 2500 / master equity, under her 10 % cap (250).
    assert alice[0].cost == pytest.approx(min(ratio * 2_500.0, 250.0), rel=0.01)
    # bob: ratio x 400 x 2.0 capped at MAX_USER_RISK 10 % of 400 = 40.
    assert bob[0].cost == pytest.approx(min(ratio * 400.0 * 2.0, 40.0), rel=0.01)
    assert alice[0].client_order_id == copy_client_order_id(signal.signal_id, desk.label("alice"))
    stored = desk.store.get_signal(signal.signal_id)
    assert stored is not None and stored.status is SignalStatus.DONE and stored.summary["succeeded"] == 2
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None and position.is_copy and position.source_signal_id == signal.signal_id
    assert position.quantity == pytest.approx(desk.base_held("alice"))
    assert position.stop_price == pytest.approx(signal.master_stop_price)
    # The same fill reported again (a second copy path, a retry) places nothing new.
    again = engine.on_master_fill(signal)
    assert again.succeeded == 2 and len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    engine.close()


def test_exits_sell_the_same_fraction_of_each_followers_own_position(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers[:2], clock=desk.clock)
    engine.on_master_fill(master_trade(master_broker, Side.BUY, quote=2_000.0))
    held_alice, held_bob = desk.base_held("alice"), desk.base_held("bob")
    assert held_alice > 0 and held_bob > 0

    master_qty = desk.base_held("master")
    half = master_trade(master_broker, Side.SELL, base=master_qty / 2, fraction_sold=0.5)
    summary = engine.on_master_fill(half)
    assert summary.succeeded == 2
    assert desk.base_held("alice") == pytest.approx(held_alice / 2, rel=1e-3)
    assert desk.base_held("bob") == pytest.approx(held_bob / 2, rel=1e-3)
    position = desk.store.get_position(desk.name, "bob", SYMBOL)
    assert position is not None and position.quantity == pytest.approx(desk.base_held("bob"), rel=1e-6)

    close = master_trade(master_broker, Side.SELL, base=desk.base_held("master"), fraction_sold=1.0)
    assert engine.on_master_fill(close).succeeded == 2
    # A full master close leaves no coins behind (the old bot sized exits like entries).
    assert desk.base_held("alice") == pytest.approx(0.0, abs=1e-8)
    assert desk.base_held("bob") == pytest.approx(0.0, abs=1e-8)
    assert desk.store.positions(desk.name, copies_only=True) == []
    engine.close()


def test_a_sell_without_a_copied_position_is_skipped_with_the_reason(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers[:1], clock=desk.clock)
    master_broker.place_order(OrderRequest(SYMBOL, Side.BUY, new_client_order_id(), quote_notional=Decimal("500")))
    summary = engine.on_master_fill(master_trade(master_broker, Side.SELL, base=desk.base_held("master"),
                                                 fraction_sold=1.0))
    assert "no copied BTC-USD position" in summary.skipped["alice"]
    assert _sim_orders(desk, "alice") == []
    engine.close()


def test_observe_only_records_sizes_and_places_nothing(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(copy_observe_only="true"), followers[:2],
                        clock=desk.clock)
    summary = engine.on_master_fill(master_trade(master_broker, Side.BUY, quote=1_000.0))
    assert summary.observed == 2 and summary.succeeded == 0 and "COPY_OBSERVE_ONLY" in summary.line()
    assert _sim_orders(desk, "alice") == [] and _sim_orders(desk, "bob") == []
    events = {e.follower_id: e for e in desk.store.copy_events()}
    assert events["alice"].status is CopyStatus.OBSERVED and events["alice"].requested_quote > 0
    engine.close()


def test_one_failing_follower_does_not_fail_the_others(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    real = desk.account("mallory", 1_000.0)
    assert real.credentials is not None
    # The real key id with a secret the exchange does not know: every private call is refused.
    mallory_account = desk.account("mallory_bad", credentials=desk.venue.wrong_key(real.credentials))
    mallory = Follower(mallory_account, desk.broker(mallory_account))
    engine = CopyEngine(desk.name, desk.store, desk.settings(), [*followers[:2], mallory], clock=desk.clock)
    summary = engine.on_master_fill(master_trade(master_broker, Side.BUY, quote=1_000.0))
    assert summary.succeeded == 2
    assert "Authentication" in summary.failed["mallory_bad"]
    assert len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    engine.close()


def test_exactly_once_across_a_kill_between_master_fill_and_copies(desk: Desk) -> None:
    master_broker = desk.broker(desk.account("master", 10_000.0, role=Role.MASTER))
    followers = [desk.follower(f"f{i}", 1_000.0 + 100 * i) for i in range(6)]
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers, clock=desk.clock)
    signal = master_trade(master_broker, Side.BUY, quote=1_000.0)

    # The first process: signal stored, f0 and f1 copied completely, f2 planned only, f3 sent but killed
    # before its outcome was written, f4 marked sent but killed before the order left; f5 never reached.
    record, created = engine.record_signal(signal)
    assert created
    engine.copy_to(record, followers[0])
    engine.copy_to(record, followers[1])
    engine.plan_copy(record, followers[2])
    for follower in followers[3:5]:
        planned = engine.plan_copy(record, follower)
        desk.store.save_copy(replace(planned, status=CopyStatus.SENT))
    planned_f3 = desk.store.get_copy(record.signal_id, "f3")
    assert planned_f3 is not None
    followers[3].broker.place_order(
        OrderRequest(SYMBOL, Side.BUY, planned_f3.client_order_id,
                     quote_notional=Decimal(str(planned_f3.requested_quote)))
    )
    engine.close()
    desk.store.close()

    # The restarted process: fresh store connection, fresh brokers, fresh engine.
    store = desk.reopen_store()
    restarted = [Follower(f.account, desk.broker(f.account)) for f in followers]
    engine2 = CopyEngine(desk.name, store, desk.settings(), restarted, clock=desk.clock)
    summaries = engine2.resume_pending()

    assert len(summaries) == 1 and summaries[0].succeeded == 6
    for follower in followers:
        orders = _sim_orders(desk, follower.account_id)
        assert len(orders) == 1, follower.account_id
        assert orders[0].client_order_id == copy_client_order_id(signal.signal_id, follower.label)
    assert store.pending_signals() == []
    # And the master fill reported once more after the restart copies nothing.
    engine2.on_master_fill(signal)
    assert all(len(_sim_orders(desk, f.account_id)) == 1 for f in followers)
    engine2.close()


def test_followers_are_users_of_the_same_brokerage_that_copy_and_are_enabled(desk: Desk) -> None:
    from bot.config.accounts import AccountConfig

    settings = desk.settings()
    other = next(name for name in ("kraken", "coinbase") if name != desk.name)
    accounts = [
        AccountConfig(desk.name, "master", Role.MASTER, "m"),
        AccountConfig(desk.name, "a", Role.USER, "a"),
        AccountConfig(desk.name, "off", Role.USER, "off", enabled=False),
        AccountConfig(desk.name, "solo", Role.USER, "solo", copy_from_master=False),
        AccountConfig(other, "c", Role.USER, "c"),
    ]
    assert [a.account_id for a in eligible_followers(desk.name, accounts, settings)] == ["a"]
    independent = desk.settings(copy_trading_mode="INDEPENDENT")
    assert eligible_followers(desk.name, accounts, independent) == []


def test_copied_stop_comes_from_the_masters_stop_else_the_default() -> None:
    assert copy_stop_price(100.0, 100.5, 97.0, 0.05) == 97.0
    assert copy_stop_price(96.0, 100.0, 97.0, 0.05) == pytest.approx(96.0 * 0.97)
    assert copy_stop_price(100.0, 100.0, None, 0.05) == pytest.approx(95.0)


def test_lost_answers_to_follower_orders_never_duplicate_a_copy(desk: Desk) -> None:
    """The exchange executes each copy but the answer is lost: the order is looked up, never sent twice."""
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers[:2], clock=desk.clock)
    signal = master_trade(master_broker, Side.BUY, quote=1_000.0)
    desk.exchange.faults.set(face=desk.face, endpoint=desk.order_endpoint, drop_after_execute_rate=1.0)
    summary = engine.on_master_fill(signal)
    drops = desk.exchange.faults.counts.get("drop", 0)
    desk.exchange.faults.clear()
    assert drops >= 2  # both copies executed and both answers were lost
    assert summary.succeeded == 2, summary.line()
    assert len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is not None
    engine.close()


def test_an_order_refused_by_the_exchange_is_recorded_as_failed_and_the_signal_completes(desk: Desk) -> None:
    master_broker, followers = _team(desk)
    engine = CopyEngine(desk.name, desk.store, desk.settings(), followers[:2], clock=desk.clock)
    signal = master_trade(master_broker, Side.BUY, quote=1_000.0)
    desk.exchange.faults.set(face=desk.face, endpoint=desk.order_endpoint, forced_error=desk.venue.refusal)
    summary = engine.on_master_fill(signal)
    desk.exchange.faults.clear()
    assert summary.succeeded == 0 and set(summary.failed) == {"alice", "bob"}
    assert "insufficient" in summary.failed["alice"].lower()
    stored = desk.store.get_signal(signal.signal_id)
    assert stored is not None and stored.status is SignalStatus.DONE and stored.summary["failed"]["bob"]
    assert _sim_orders(desk, "alice") == []
    engine.close()
