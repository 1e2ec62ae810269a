"""The copy outbox end to end: each real adapter over HTTP against its simulator face (docs/rules.md §5).

The master's order goes through the execution ledger, whose booking writes the signal and one planned
row per follower; the dispatcher drives every row to a final state through the same ledger path.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from bot.brokers.base import OrderRequest, Side, new_client_order_id
from bot.config.accounts import AccountConfig, Role
from bot.copy.dispatcher import Absent, CopyDispatcher
from bot.copy.followers import Follower, eligible_followers
from bot.execution.booking import copy_stop_price
from bot.execution.ids import copy_client_order_id
from bot.execution.ledger import ExecutionLedger, OrderIntent
from bot.state.records import CopyStatus, SignalStatus
from tests.copy.conftest import SYMBOL, Desk, master_trade, team


def _sim_orders(desk: Desk, account_id: str) -> list:
    return list(desk.exchange.orders(account_id))


def _three(desk: Desk) -> list[Follower]:
    return [
        desk.follower("alice", 2_500.0),
        desk.follower("bob", 400.0, risk_multiplier=2.0),
        desk.follower("tiny", 5.0),
    ]


def test_entry_copied_once_to_each_follower_sized_from_what_the_master_spent(desk: Desk) -> None:
    t = team(desk, _three(desk))
    signal = master_trade(t, Side.BUY, quote=1_000.0, stop_fraction=0.03)
    # What the master spent, fee included (Coinbase's quote_size counts the fee; issue 10)
    master_order = desk.store.get_order(signal.master_client_order_id)
    assert master_order is not None
    assert signal.quote_notional == master_order.filled_quote + master_order.fee_quote
    ratio = float(signal.quote_notional) / signal.master_equity

    t.copy_until_done()

    summary = t.dispatcher.summary(signal.signal_id)
    assert summary.processed == 3 and summary.succeeded == 2 and summary.failed == {}
    assert "under the exchange minimum" in summary.skipped["tiny"]
    alice, bob = _sim_orders(desk, "alice"), _sim_orders(desk, "bob")
    assert len(alice) == 1 and len(bob) == 1 and _sim_orders(desk, "tiny") == []
    alice_copy = desk.store.get_copy(signal.signal_id, "alice")
    bob_copy = desk.store.get_copy(signal.signal_id, "bob")
    assert alice_copy is not None and bob_copy is not None
    # alice: master share x 2500, under her 10 % cap (250); bob: share x 400 x 2.0 capped at 10 % of 400 = 40.
    assert float(alice_copy.requested_quote or 0) == pytest.approx(min(ratio * 2_500.0, 250.0), abs=0.01)
    assert float(bob_copy.requested_quote or 0) == pytest.approx(min(ratio * 400.0 * 2.0, 40.0), abs=0.01)
    assert alice[0].client_order_id == copy_client_order_id(signal.signal_id, desk.label("alice"))
    stored = desk.store.get_signal(signal.signal_id)
    assert stored is not None and stored.status is SignalStatus.DONE and stored.summary["succeeded"] == 2
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None and position.is_copy and position.source_signal_id == signal.signal_id
    assert position.quantity == desk.base_held("alice")
    assert position.stop_price == pytest.approx(signal.master_stop_price)
    assert signal.master_stop_price == pytest.approx(float(signal.fill_price) - desk.exchange.price(SYMBOL) * 0.03,
                                                     rel=0.01)
    # Another round (a second wake, a restart) places nothing new: the rows are final.
    assert t.copy() is None
    assert len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    t.close()


def test_exits_sell_the_same_fraction_of_each_followers_own_position_and_a_close_leaves_nothing(desk: Desk) -> None:
    t = team(desk, _three(desk)[:2])
    master_trade(t, Side.BUY, quote=2_000.0)
    t.copy_until_done()
    held_alice, held_bob = desk.base_held("alice"), desk.base_held("bob")
    assert held_alice > 0 and held_bob > 0

    master_position = desk.store.get_position(desk.name, "master", SYMBOL)
    assert master_position is not None
    half = master_trade(t, Side.SELL, base=(master_position.quantity / 2).quantize(Decimal("0.00000001"), "ROUND_DOWN"))
    assert half.fraction_sold is not None and abs(half.fraction_sold - Decimal("0.5")) < Decimal("0.000001")
    t.copy_until_done()
    assert t.dispatcher.summary(half.signal_id).succeeded == 2
    assert float(desk.base_held("alice")) == pytest.approx(float(held_alice) / 2, rel=1e-3)
    assert float(desk.base_held("bob")) == pytest.approx(float(held_bob) / 2, rel=1e-3)
    position = desk.store.get_position(desk.name, "bob", SYMBOL)
    assert position is not None and position.quantity == desk.base_held("bob")  # exactly

    rest = desk.store.get_position(desk.name, "master", SYMBOL)
    assert rest is not None
    close = master_trade(t, Side.SELL, base=rest.quantity)
    assert close.fraction_sold == 1
    t.copy_until_done()
    assert t.dispatcher.summary(close.signal_id).succeeded == 2
    # A full master close leaves no coins behind, exactly (the old bot sized exits like entries; float left 1e-8).
    assert desk.base_held("alice") == 0 and desk.base_held("bob") == 0
    assert desk.store.positions(desk.name, copies_only=True) == []
    trades = desk.store.trades(desk.name, "alice")
    assert len(trades) == 1 and trades[0].quantity == held_alice and trades[0].is_copy
    t.close()


def test_a_sell_without_a_copied_position_is_skipped_with_the_reason(desk: Desk) -> None:
    t = team(desk, _three(desk)[:1])
    t.master.place_order(OrderRequest(SYMBOL, Side.BUY, new_client_order_id(), quote_notional=Decimal(500)))
    desk.clock.advance(5)  # Alpaca fills an accepted market order a moment later
    held = desk.base_held("master")
    desk.store.save_position(_master_position(desk, held))
    signal = master_trade(t, Side.SELL, base=held)
    t.copy_until_done()
    assert "no copied BTC-USD position" in t.dispatcher.summary(signal.signal_id).skipped["alice"]
    assert _sim_orders(desk, "alice") == []
    t.close()


def _master_position(desk: Desk, quantity: Decimal):  # type: ignore[no-untyped-def]
    from bot.state.records import PositionRecord

    price = desk.exchange.price(SYMBOL)
    return PositionRecord(desk.name, "master", SYMBOL, price, quantity, quantity, price * 0.95, price * 0.95,
                          price * 0.05, desk.clock.now(), cost_quote=quantity * Decimal(repr(price)), trade_id="m1")


def test_observe_only_records_sizes_and_places_nothing(desk: Desk) -> None:
    t = team(desk, _three(desk)[:2], settings=desk.settings(copy_observe_only="true"))
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done()
    summary = t.dispatcher.summary(signal.signal_id)
    assert summary.observed == 2 and summary.succeeded == 0 and "COPY_OBSERVE_ONLY" in summary.line()
    assert _sim_orders(desk, "alice") == [] and _sim_orders(desk, "bob") == []
    copies = {c.follower_id: c for c in desk.store.copies()}
    assert copies["alice"].status is CopyStatus.OBSERVED and "buy" in copies["alice"].reason
    t.close()


def test_a_refused_key_fails_that_follower_for_good_and_the_others_copy(desk: Desk) -> None:
    followers = _three(desk)[:2]
    real = desk.account("mallory", 1_000.0)
    assert real.credentials is not None
    # The real key id with a secret the exchange does not know: every private call is refused.
    mallory_account = desk.account("mallory_bad", credentials=desk.venue.wrong_key(real.credentials))
    mallory = Follower(mallory_account, desk.broker(mallory_account))
    t = team(desk, [*followers, mallory])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done()
    summary = t.dispatcher.summary(signal.signal_id)
    assert summary.succeeded == 2 and summary.complete
    assert "Authentication" in summary.failed["mallory_bad"]
    assert len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    t.close()


def test_a_follower_without_credentials_fails_with_the_reason_and_an_unreachable_one_is_retried(desk: Desk) -> None:
    alice = desk.follower("alice", 2_500.0)
    t = team(desk, [alice])
    ids = ["alice", "nokey", "away"]
    t.ledger.followers_of = lambda broker: ids
    t.dispatcher.set_followers([alice], {
        "nokey": Absent("NO_CREDENTIALS: no API key set", permanent=True),
        "away": Absent("UNREACHABLE: the exchange did not answer", permanent=False),
    })
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done(until=lambda: desk.store.get_copy(signal.signal_id, "alice").status  # type: ignore[union-attr]
                      is CopyStatus.FILLED)
    copies = {c.follower_id: c for c in desk.store.copies(signal_id=signal.signal_id)}
    assert copies["alice"].status is CopyStatus.FILLED
    assert copies["nokey"].status is CopyStatus.FAILED and "NO_CREDENTIALS" in copies["nokey"].reason
    assert copies["away"].status is CopyStatus.PLANNED and copies["away"].attempts >= 1
    assert desk.store.get_signal(signal.signal_id).status is SignalStatus.PENDING  # type: ignore[union-attr]
    t.close()


def test_exactly_once_across_a_kill_between_the_copies(desk: Desk) -> None:
    """A previous process left: f0 filled, f1 planned, f2 sent and executed (answer lost in the kill), f3 sent
    but killed before the order left. The restarted process copies each exactly once."""
    followers = [desk.follower(f"f{i}", 1_000.0 + 100 * i) for i in range(4)]
    # f3's intent is declared never placed only UNKNOWN_ORDER_GRACE_SECONDS after it was written, and the look-ups'
    # back-off adds to that: a window wider than the default keeps this test about exactly-once, not staleness.
    settings = desk.settings(copy_max_delay_seconds="600")
    t = team(desk, followers, settings)
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    f0 = desk.store.get_copy(signal.signal_id, "f0")
    assert f0 is not None
    # f0 copied completely by the first process; the others not reached before the kill
    t.dispatcher.set_followers(followers[:1], {f.account_id: Absent("not reached yet", permanent=False)
                                               for f in followers[1:]})
    t.copy_until_done(until=lambda: desk.store.get_copy(signal.signal_id, "f0").status  # type: ignore[union-attr]
                      is CopyStatus.FILLED)
    assert desk.store.get_copy(signal.signal_id, "f0").status is CopyStatus.FILLED  # type: ignore[union-attr]
    # f2 and f3: the intent written (row sent); f2's order reached the exchange, f3's never left
    for follower in followers[2:]:
        row = desk.store.get_copy(signal.signal_id, follower.account_id)
        assert row is not None
        quote = Decimal("100.00")
        intent = OrderIntent(desk.name, follower.account_id, SYMBOL, Side.BUY, "copy_entry", row.client_order_id,
                             quote_notional=quote, signal_id=signal.signal_id)
        t.ledger.write_intent(intent, row)
    row_f2 = desk.store.get_copy(signal.signal_id, "f2")
    assert row_f2 is not None and row_f2.status is CopyStatus.SENT
    followers[2].broker.place_order(OrderRequest(SYMBOL, Side.BUY, row_f2.client_order_id,
                                                 quote_notional=Decimal("100.00")))
    t.close()
    desk.store.close()

    # The restarted process: fresh store connection, fresh brokers, fresh ledger and dispatcher.
    store = desk.reopen_store()
    restarted = [Follower(f.account, desk.broker(f.account)) for f in followers]
    ids = [f.account_id for f in followers]
    ledger = ExecutionLedger(store, settings, desk.clock, followers_of=lambda b: ids)
    dispatcher = CopyDispatcher(desk.name, store, ledger, settings, desk.clock, restarted)
    for _ in range(30):  # f3's intent is looked up (with back-off) until the grace period says it never left
        due = dispatcher.run_due()
        if due is None:
            break
        desk.clock.set(due)
    assert desk.clock.now() - signal.time < settings.copy_trading.copy_max_delay_seconds
    assert dispatcher.summary(signal.signal_id).succeeded == 4
    for follower in followers:
        orders = _sim_orders(desk, follower.account_id)
        assert len(orders) == 1, follower.account_id
        assert orders[0].client_order_id == copy_client_order_id(signal.signal_id, follower.label)
    assert store.pending_signals() == []
    dispatcher.close()


def test_followers_are_users_of_the_same_brokerage_that_copy_and_are_enabled(desk: Desk) -> None:
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
    t = team(desk, _three(desk)[:2])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    desk.exchange.faults.set(face=desk.face, endpoint=desk.order_endpoint, drop_after_execute_rate=1.0)
    t.copy()
    drops = desk.exchange.faults.counts.get("drop", 0)
    desk.exchange.faults.clear()
    t.copy_until_done()
    assert drops >= 2  # both copies executed and both answers were lost
    assert t.dispatcher.summary(signal.signal_id).succeeded == 2
    assert len(_sim_orders(desk, "alice")) == 1 and len(_sim_orders(desk, "bob")) == 1
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is not None
    t.close()


def test_an_order_refused_by_the_exchange_is_failed_with_the_reason_and_the_signal_completes(desk: Desk) -> None:
    t = team(desk, _three(desk)[:2])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    desk.exchange.faults.set(face=desk.face, endpoint=desk.order_endpoint, forced_error=desk.venue.refusal)
    t.copy()
    desk.exchange.faults.clear()
    summary = t.dispatcher.summary(signal.signal_id)
    assert summary.succeeded == 0 and set(summary.failed) == {"alice", "bob"}
    assert "insufficient" in summary.failed["alice"].lower()
    stored = desk.store.get_signal(signal.signal_id)
    assert stored is not None and stored.status is SignalStatus.DONE and stored.summary["failed"]["bob"]
    assert _sim_orders(desk, "alice") == []
    t.close()


def test_a_transient_error_while_sizing_is_retried_during_the_run_not_failed(desk: Desk) -> None:
    """Issue 10, failure 6: one ExchangeUnavailable while sizing a copy used to mark it FAILED for good."""
    t = team(desk, _three(desk)[:2])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    desk.exchange.faults.set(face=desk.face, http_5xx_rate=1.0)
    t.copy()
    rows = {c.follower_id: c for c in desk.store.copies(signal_id=signal.signal_id)}
    assert all(r.status is CopyStatus.PLANNED and r.attempts == 1 and "retrying" in r.reason for r in rows.values())
    assert rows["alice"].next_attempt_at > desk.clock.now()
    desk.exchange.faults.clear()
    t.copy_until_done()
    assert t.dispatcher.summary(signal.signal_id).succeeded == 2
    assert len(_sim_orders(desk, "alice")) == 1
    t.close()


def test_an_entry_not_placed_within_the_window_is_skipped_as_stale_but_an_exit_never_is(desk: Desk) -> None:
    t = team(desk, _three(desk)[:1], settings=desk.settings(copy_max_delay_seconds="60"))
    entry = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done()  # alice holds a copy
    second = master_trade(t, Side.BUY, quote=500.0)
    desk.clock.advance(61)
    t.copy()
    stale = desk.store.get_copy(second.signal_id, "alice")
    assert stale is not None and stale.status is CopyStatus.SKIPPED and stale.reason.startswith("stale")
    assert len(_sim_orders(desk, "alice")) == 1
    master_position = desk.store.get_position(desk.name, "master", SYMBOL)
    assert master_position is not None
    close = master_trade(t, Side.SELL, base=master_position.quantity)
    desk.exchange.faults.set(face=desk.face, http_5xx_rate=1.0)
    t.copy()
    desk.clock.advance(3_600)  # an hour of an unreachable exchange: the exit still happens when it answers
    t.copy()
    desk.exchange.faults.clear()
    t.copy_until_done()
    done = desk.store.get_copy(close.signal_id, "alice")
    assert done is not None and done.status is CopyStatus.FILLED and desk.base_held("alice") == 0
    assert entry.signal_id != second.signal_id
    t.close()


def test_a_follower_unreachable_at_signal_time_gets_its_copy_when_it_comes_back(desk: Desk) -> None:
    """Issue 10, failure 7: a master fill while a follower was unreachable was copied to nobody."""
    alice = desk.follower("alice", 2_500.0)
    t = team(desk, [alice])
    t.dispatcher.set_followers([], {"alice": Absent("UNREACHABLE: no answer at start-up", permanent=False)})
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy()
    row = desk.store.get_copy(signal.signal_id, "alice")
    assert row is not None and row.status is CopyStatus.PLANNED
    desk.clock.advance(30)
    t.dispatcher.set_followers([alice])  # the re-check found it reachable
    t.copy_until_done()
    assert t.dispatcher.summary(signal.signal_id).succeeded == 1
    assert len(_sim_orders(desk, "alice")) == 1
    t.close()


def test_a_second_signal_of_one_master_order_is_never_made(desk: Desk) -> None:
    t = team(desk, _three(desk)[:1])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    order = desk.store.get_order(signal.master_client_order_id)
    assert order is not None
    # booking the same order again (a settle after a restart, a second thread) books nothing new
    again = t.ledger.settle(replace(order, status="in_flight"), t.master)
    assert again.status == "filled"
    assert len(desk.store.signals()) == 1 and len(desk.store.copies()) == 1
    assert len(desk.store.fills(desk.name, "master")) == 1
    t.close()


def test_a_signal_whose_last_copy_was_booked_by_another_thread_is_completed(desk: Desk) -> None:
    """The follower's own pass can settle and book its copy order; the dispatcher still closes the signal."""
    t = team(desk, _three(desk)[:1])
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    row = desk.store.get_copy(signal.signal_id, "alice")
    assert row is not None
    # The dispatcher wrote the copy's intent and sent it; the answer was lost (the order is in flight).
    intent = OrderIntent(desk.name, "alice", SYMBOL, Side.BUY, "copy_entry", row.client_order_id,
                         quote_notional=Decimal("100.00"), signal_id=signal.signal_id)
    order, _ = t.ledger.write_intent(intent, row)
    t.followers[0].broker.place_order(intent.request())
    desk.clock.advance(5)  # Alpaca fills an accepted market order a moment later
    t.ledger.settle(order, t.followers[0].broker)  # the follower's own thread settles and books it
    assert desk.store.get_copy(signal.signal_id, "alice").status is CopyStatus.FILLED  # type: ignore[union-attr]
    assert desk.store.get_signal(signal.signal_id).status is SignalStatus.PENDING  # type: ignore[union-attr]
    assert t.copy() is None
    assert desk.store.get_signal(signal.signal_id).status is SignalStatus.DONE  # type: ignore[union-attr]
    t.close()


def test_a_paused_follower_is_skipped_without_an_exchange_call(desk: Desk) -> None:
    """The entry gate (a paused follower, ENTRY_BLOCKING) was asked after the follower's balance read: an HTTP call
    for each paused follower and signal, for a copy skipped anyway. The others still size from their balance."""
    t = team(desk, _three(desk)[:2])
    dispatcher = CopyDispatcher(desk.name, desk.store, t.ledger, t.settings, desk.clock, t.followers,
                                entry_gate=lambda broker, account_id: "paused by the operator"
                                if account_id == "alice" else None)
    t = replace(t, dispatcher=dispatcher)
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    alice = t.followers[0].broker
    alice.market(SYMBOL)  # the market's rules, loaded once per client, come before the gate
    calls = alice.call_log.counts().calls
    t.copy_until_done()
    paused = desk.store.get_copy(signal.signal_id, "alice")
    assert paused is not None and paused.status is CopyStatus.SKIPPED and paused.reason == "paused by the operator"
    assert alice.call_log.counts().calls == calls
    bob = desk.store.get_copy(signal.signal_id, "bob")
    assert bob is not None and bob.status is CopyStatus.FILLED
    t.close()
