"""The follower guard: own stop and time exit when the master is offline; never a buy (docs/rules.md §5)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.brokers.base import Side
from bot.copy.guard import FollowerGuard
from bot.state.records import CopyStatus, SignalRecord
from tests.copy.conftest import SYMBOL, Desk, master_trade, team


def _settled(desk: Desk, guard: FollowerGuard) -> list[str]:
    """What the guard's exit orders became once the follower's next pass settled them (Alpaca accepts a market
    order and fills it a moment later; the others answer filled at once)."""
    desk.clock.advance(5)
    guard.ledger.settle_due(desk.name, guard.follower.account_id, guard.follower.broker)
    return [o.status for o in desk.store.orders(desk.name, guard.follower.account_id) if o.purpose == "guard_exit"]


def _copied(desk: Desk) -> FollowerGuard:
    follower = desk.follower("alice", 2_500.0)
    t = team(desk, [follower])
    master_trade(t, Side.BUY, quote=1_000.0, stop_fraction=0.02)
    t.copy_until_done()
    t.close()
    assert desk.base_held("alice") > 0
    return FollowerGuard(follower, desk.store, desk.settings(), clock=desk.clock, ledger=t.ledger)


def test_guard_only_watches_while_the_master_is_online(desk: Desk) -> None:
    guard = _copied(desk)
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None
    # Even with the stop above the price, the master (online) decides exits, not the guard.
    desk.store.save_position(replace(position, stop_price=position.entry_price * 10))
    desk.store.beat_master(desk.name)
    report = guard.run_once()
    assert report.master_online and report.actions == ()
    assert len(desk.exchange.orders("alice")) == 1


def test_guard_enforces_the_copied_stop_when_the_master_is_offline(desk: Desk) -> None:
    guard = _copied(desk)
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None
    desk.store.save_position(replace(position, stop_price=position.entry_price * 10))
    desk.store.beat_master(desk.name, at=desk.clock.now())
    desk.clock.advance(desk.settings().copy_trading.master_offline_seconds + 1)
    report = guard.run_once()
    assert not report.master_online
    assert [(a.symbol, a.reason) for a in report.actions] == [(SYMBOL, "stop")]
    assert _settled(desk, guard) == ["filled"]
    assert desk.base_held("alice") == 0
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is None
    sides = [o.side for o in desk.exchange.orders("alice")]
    assert sides == ["buy", "sell"]  # the copy, then the guard's exit: the guard never buys
    assert guard.run_once().actions == ()  # nothing left to protect, nothing sent


def test_guard_enforces_the_time_exit_when_the_master_is_offline(desk: Desk) -> None:
    guard = _copied(desk)
    desk.store.beat_master(desk.name, at=desk.clock.now())
    report = guard.run_once()
    assert report.master_online and report.actions == ()
    desk.clock.advance(desk.settings().strategy.max_hold_hours * 3600 + 60)
    report = guard.run_once()
    assert not report.master_online and "MASTER OFFLINE" in report.line()
    # The synthetic market moved over a day; the position exits by time unless its stop fired first.
    assert len(report.actions) == 1 and report.actions[0].reason in ("time", "stop")
    assert _settled(desk, guard) == ["filled"]
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is None


def test_a_master_that_never_beat_counts_as_offline(desk: Desk) -> None:
    follower = desk.follower("alice", 100.0)
    guard = FollowerGuard(follower, desk.store, desk.settings(), clock=desk.clock)
    assert guard.master_online() == (False, None)
    desk.store.beat_master(desk.name)
    assert guard.master_online() == (True, desk.clock.now())


def test_an_orphaned_copy_is_closed_even_while_the_master_is_online(desk: Desk) -> None:
    """The follower's buy settled only after the master had closed the symbol (its sell copy found nothing)."""
    guard = _copied(desk)
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None
    desk.store.record_signal(SignalRecord(
        signal_id="close-1", broker=desk.name, symbol=SYMBOL, side="sell",
        fill_price=Decimal(repr(position.entry_price)),
        filled_base=Decimal("0.01"), quote_notional=Decimal("0.01") * Decimal(repr(position.entry_price)),
        master_order_id="M-CLOSE", master_equity=10_000.0, time=position.opened_at + 1, fraction_sold=Decimal(1),
    ))
    desk.store.beat_master(desk.name)
    report = guard.run_once()
    assert report.master_online
    assert [a.reason for a in report.actions] == ["orphan"]
    assert _settled(desk, guard) == ["filled"]
    assert desk.base_held("alice") == 0
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is None


def test_a_partial_master_sale_does_not_orphan_the_copy(desk: Desk) -> None:
    guard = _copied(desk)
    position = desk.store.get_position(desk.name, "alice", SYMBOL)
    assert position is not None
    desk.store.record_signal(SignalRecord(
        signal_id="half-1", broker=desk.name, symbol=SYMBOL, side="sell",
        fill_price=Decimal(repr(position.entry_price)),
        filled_base=Decimal("0.01"), quote_notional=Decimal("0.01") * Decimal(repr(position.entry_price)),
        master_order_id="M-HALF", master_equity=10_000.0, time=position.opened_at + 1, fraction_sold=Decimal("0.5"),
    ))
    desk.store.beat_master(desk.name)
    assert guard.run_once().actions == ()
    assert desk.store.get_position(desk.name, "alice", SYMBOL) is not None


def test_a_close_still_in_the_copy_outbox_is_left_to_the_dispatcher(desk: Desk) -> None:
    """The guard never races the dispatcher: the master's close is copied by the outbox, not sold as an orphan."""
    follower = desk.follower("alice", 2_500.0)
    t = team(desk, [follower])
    master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done()
    guard = FollowerGuard(follower, desk.store, desk.settings(), clock=desk.clock, ledger=t.ledger)
    master_position = desk.store.get_position(desk.name, "master", SYMBOL)
    assert master_position is not None
    close = master_trade(t, Side.SELL, base=master_position.quantity)
    row = desk.store.get_copy(close.signal_id, "alice")
    assert row is not None and row.status is CopyStatus.PLANNED
    desk.store.beat_master(desk.name)
    assert guard.run_once().actions == ()  # the close's copy is still to be made: not an orphan
    t.copy_until_done()
    done = desk.store.get_copy(close.signal_id, "alice")
    assert done is not None and done.status is CopyStatus.FILLED and desk.base_held("alice") == 0
    sides = [o.side for o in desk.exchange.orders("alice")]
    assert sides == ["buy", "sell"]  # one sale, the copy's
    t.close()
