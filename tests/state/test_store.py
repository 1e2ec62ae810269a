"""The store's promises to the trading and copy layers: exactly-once signals, copies and fills; order
lifecycles that keep what was known before sending; queries that filter; transactions that roll back."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.brokers.base import OrderStatus
from bot.clock import ManualClock
from bot.state.records import UNSETTLED, CopyStatus, OrderRecord, SignalRecord, SignalStatus
from bot.state.store import StateStore
from tests.state.conftest import START, account_state, copy_event, fill, order, position, signal


def ids(records: list[OrderRecord] | list[SignalRecord]) -> list[str]:
    """The keys of records in the order the store returned them."""
    return [r.client_order_id if isinstance(r, OrderRecord) else r.signal_id for r in records]


# ---- exactly once -----------------------------------------------------------------------------------


def test_same_signal_twice_is_stored_once(store: StateStore) -> None:
    first, created = store.record_signal(signal(status=SignalStatus.PENDING, summary=None, completed_at=None))
    again, created_again = store.record_signal(signal(status=SignalStatus.PENDING, summary=None, completed_at=None))
    assert (created, created_again) == (True, False)
    assert again == first
    changed, created_changed = store.record_signal(signal(master_order_id="MO-other", fill_price=D("1.0")))
    assert created_changed is False
    assert changed == first  # the stored signal, not the one just offered
    assert store.signals() == [first]


def test_same_master_order_id_on_another_brokerage_is_another_signal(store: StateStore) -> None:
    store.record_signal(signal("sig-k", broker="kraken", master_order_id="MO-1"))
    _, created = store.record_signal(signal("sig-c", broker="coinbase", master_order_id="MO-1"))
    assert created is True
    assert {s.signal_id for s in store.signals()} == {"sig-k", "sig-c"}


def test_first_copy_plan_wins(store: StateStore, clock: ManualClock) -> None:
    first, created = store.add_copy(copy_event(status=CopyStatus.PLANNED, requested_base=D("0.01")))
    clock.advance(30.0)
    stored, created_again = store.add_copy(copy_event(status=CopyStatus.SENT, requested_base=D("0.5"), reason="other"))
    assert (created, created_again) == (True, False)
    assert stored == first
    assert stored.status is CopyStatus.PLANNED
    assert stored.requested_base == D("0.01")
    assert stored.updated_at == START  # the second plan did not touch the row
    assert store.copies() == [first]


def test_fill_recorded_twice_returns_false_and_keeps_the_first(store: StateStore) -> None:
    assert store.record_fill(fill(price=D("100"))) is True
    assert store.record_fill(fill(price=D("200"))) is False
    assert store.fills() == [fill(price=D("100"))]


# ---- order lifecycle --------------------------------------------------------------------------------


def test_recording_an_order_again_keeps_created_at(store: StateStore, clock: ManualClock) -> None:
    store.record_order(order(created_at=START - 60.0))
    clock.advance(10.0)
    again = store.record_order(order(created_at=START + 999.0, status="filled"))
    assert again.created_at == START - 60.0
    assert again.updated_at == START + 10.0
    assert store.get_order("coid-1") == again


def test_settling_writes_only_while_the_order_is_unsettled(store: StateStore) -> None:
    """The ledger books with one conditional write: an order already final is never settled (booked) twice."""
    assert set(UNSETTLED) == {str(s) for s in OrderStatus if not s.is_final}  # the store's words for the statuses
    store.record_order(order(status="in_flight", filled_base=D("0")))
    assert store.settle_order(order(status="open", checks=1, filled_base=D("0"))) is True
    assert store.settle_order(order(status="filled", checks=2, filled_base=D("0.5"))) is True
    assert store.settle_order(order(status="filled", checks=3, filled_base=D("0.9"))) is False
    final = store.get_order("coid-1")
    assert final is not None and (final.status, final.checks, final.filled_base) == ("filled", 2, D("0.5"))


# ---- queries ----------------------------------------------------------------------------------------


def test_orders_filter_by_status_broker_and_account(store: StateStore) -> None:
    store.record_order(order("a", status="open"))
    store.record_order(order("b", status="filled"))
    store.record_order(order("c", status="in_flight", account_id="alice"))
    store.record_order(order("d", status="open", broker="coinbase"))
    assert ids(store.orders()) == ["a", "b", "c", "d"]
    assert ids(store.orders(statuses=[OrderStatus.OPEN, OrderStatus.IN_FLIGHT])) == ["a", "c", "d"]
    assert ids(store.orders(statuses=(s for s in ["filled"]))) == ["b"]
    assert ids(store.orders("kraken", statuses=["open"])) == ["a"]
    assert ids(store.orders("kraken", "alice")) == ["c"]
    assert ids(store.orders("kraken", "master", statuses=["in_flight"])) == []
    assert store.orders(statuses=[]) == []  # nothing wanted is nothing, not everything



def test_brokerage_unsettled_orders_use_an_index_on_status(store: StateStore, db_path: Path) -> None:
    """The copy dispatcher's in-flight loop asks for a whole brokerage's unsettled orders twice a round:
    the plan must seek by (broker, status), not walk every order the brokerage ever placed."""
    store.record_order(order("a", status="open"))
    with sqlite3.connect(db_path) as conn:
        plan = " ".join(str(row[3]) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE broker = ? AND status IN (?, ?, ?) ORDER BY rowid",
            ("kraken", "in_flight", "open", "partially_filled")))
    assert "orders_by_status (broker=? AND status=?)" in plan

def test_positions_copies_only_and_by_account(store: StateStore) -> None:
    own = position("ETH-USD", is_copy=False, source_signal_id=None, opened_at=START - 10.0)
    copied = position("BTC-USD", is_copy=True, opened_at=START - 20.0)
    other = position("SOL-USD", account_id="bob", is_copy=True, opened_at=START - 5.0)
    for record in (own, copied, other):
        store.save_position(record)
    assert store.positions() == [copied, own, other]  # oldest first
    assert store.positions(copies_only=True) == [copied, other]
    assert store.positions("kraken", "alice", copies_only=True) == [copied]
    assert store.positions("kraken", "alice") == [copied, own]
    assert store.positions("coinbase") == []


def test_position_update_and_delete(store: StateStore) -> None:
    store.save_position(position(quantity=D("0.1")))
    store.save_position(position(quantity=D("0.04"), stop_price=64_000.25))
    assert store.positions() == [position(quantity=D("0.04"), stop_price=64_000.25)]
    assert store.delete_position("kraken", "alice", "BTC-USD") is True
    assert store.delete_position("kraken", "alice", "BTC-USD") is False
    assert store.positions() == []


def test_signals_filter_and_since_boundary(store: StateStore) -> None:
    store.record_signal(signal("late", time=START + 20.0))
    store.record_signal(signal("before", time=START - 0.001))
    store.record_signal(signal("at", time=START))
    store.record_signal(signal("sell", side="sell", time=START + 10.0))
    store.record_signal(signal("eth", symbol="ETH-USD", time=START + 5.0))
    store.record_signal(signal("cb", broker="coinbase", time=START + 1.0))
    assert ids(store.signals()) == ["before", "at", "cb", "eth", "sell", "late"]  # by time, not insertion
    assert ids(store.signals(since=START)) == ["at", "cb", "eth", "sell", "late"]  # inclusive boundary
    assert ids(store.signals("kraken", since=START)) == ["at", "eth", "sell", "late"]
    assert ids(store.signals(symbol="BTC-USD", side="buy", since=START)) == ["at", "cb", "late"]
    assert ids(store.signals("kraken", symbol="BTC-USD", side="sell")) == ["sell"]
    assert ids(store.signals(since=START + 20.001)) == []


def test_pending_signals_after_complete(store: StateStore, clock: ManualClock) -> None:
    for signal_id, broker, at in (("s1", "kraken", 1.0), ("s2", "kraken", 2.0), ("s3", "coinbase", 3.0)):
        store.record_signal(signal(signal_id, broker=broker, time=START + at, status=SignalStatus.PENDING,
                                   summary=None, completed_at=None))
    assert [s.signal_id for s in store.pending_signals()] == ["s1", "s2", "s3"]
    clock.advance(9.0)
    store.complete_signal("s1", {"copied": 3, "skipped": ["dave"]})
    assert [s.signal_id for s in store.pending_signals()] == ["s2", "s3"]
    assert [s.signal_id for s in store.pending_signals("kraken")] == ["s2"]
    done = store.get_signal("s1")
    assert done is not None
    assert done.status is SignalStatus.DONE
    assert done.summary == {"copied": 3, "skipped": ["dave"]}
    assert done.completed_at == START + 9.0


def test_copy_events_filters(store: StateStore) -> None:
    a = store.add_copy(copy_event("alice", "s1"))[0]
    b = store.add_copy(copy_event("bob", "s1"))[0]
    c = store.add_copy(copy_event("alice", "s2", broker="coinbase"))[0]
    assert store.copies() == [a, b, c]
    assert store.copies(signal_id="s1") == [a, b]
    assert store.copies(follower_id="alice") == [a, c]
    assert store.copies(broker="coinbase", follower_id="alice") == [c]


def test_account_states_keep_first_insertion_order(store: StateStore, clock: ManualClock) -> None:
    for name in ("zed", "amy", "mike"):
        store.save_account_state(account_state(name))
    clock.advance(60.0)
    updated = store.save_account_state(account_state("zed", state="BLOCKED", reason="below minimum", equity=0.1))
    assert updated.updated_at == START + 60.0
    states = store.account_states()
    assert [s.account_id for s in states] == ["zed", "amy", "mike"]  # an update does not move a row to the end
    assert states[0] == updated


# ---- transactions -----------------------------------------------------------------------------------


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


def test_error_in_transaction_rolls_everything_back(store: StateStore) -> None:
    store.record_order(order("kept"))
    with pytest.raises(Boom), store.transaction():
        store.record_order(order("lost"))
        store.record_fill(fill())
        store.save_position(position())
        store.record_signal(signal())
        store.delete_position("kraken", "alice", "nothing")
        raise Boom
    assert [o.client_order_id for o in store.orders()] == ["kept"]
    assert store.fills() == [] and store.positions() == [] and store.signals() == []
    with store.transaction():  # the store is usable afterwards: not stuck inside a dead transaction
        store.record_fill(fill("after"))
    assert [f.fill_id for f in store.fills()] == ["after"]


def test_failed_nested_transaction_rolls_back_only_its_own_writes(store: StateStore, db_path: Path) -> None:
    with store.transaction():
        store.record_fill(fill("outer-1"))
        with pytest.raises(Boom), store.transaction():
            store.record_fill(fill("inner"))
            store.save_position(position())
            raise Boom
        with store.transaction():  # a later nested block at the same depth still commits
            store.record_fill(fill("inner-ok"))
        store.record_fill(fill("outer-2"))
    with StateStore(db_path) as other:  # committed to the file, not only visible to this connection
        assert [f.fill_id for f in other.fills()] == ["outer-1", "inner-ok", "outer-2"]
        assert other.positions() == []


def test_uncommitted_writes_are_invisible_to_another_connection(store: StateStore, db_path: Path) -> None:
    with StateStore(db_path) as other:
        with store.transaction():
            store.record_fill(fill())
            store.save_position(position())
            assert other.fills() == [] and other.positions() == []
        assert other.fills() == [fill()]
        assert other.positions() == [position()]
