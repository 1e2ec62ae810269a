"""Every record type comes back from the store equal to what was written, with Python types intact:
enums as the enum members, booleans as bool, JSON columns as dicts, None as None."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.state.records import CopyStatus, HealthStatus, MasterHeartbeat, OrderPlan, SignalStatus
from bot.state.store import StateStore
from tests.state.conftest import START, account_state, copy_event, fill, health, order, position, signal, trade


@pytest.fixture(params=["same connection", "second connection"])
def reader(request: pytest.FixtureRequest, store: StateStore, db_path: Path) -> Iterator[StateStore]:
    """Reads through the writing store, and through another store on the file (nothing cached in Python)."""
    if request.param == "same connection":
        yield store
        return
    with StateStore(db_path) as other:
        yield other


@pytest.mark.parametrize(
    "record",
    [
        order(),
        order("coid-nones", requested_base=None, requested_quote=None, signal_id=None, exchange_order_id=None,
              purpose="", reason="", plan=None, next_check_at=None),
        order("coid-empty-plan", plan=OrderPlan()),
    ],
    ids=["every field", "none fields", "empty plan"],
)
def test_order_round_trips(store: StateStore, reader: StateStore, record: object) -> None:
    written = store.record_order(record)  # type: ignore[arg-type]
    assert written == record  # the builder already uses the clock's time for updated_at
    assert reader.get_order(written.client_order_id) == record
    assert reader.orders() == [record]


@pytest.mark.parametrize(
    "record", [fill(), fill("fill-none", exchange_order_id=None, realised_pnl=None, trade_id=None)], ids=["set", "none"]
)
def test_fill_round_trips(store: StateStore, reader: StateStore, record: object) -> None:
    assert store.record_fill(record) is True  # type: ignore[arg-type]
    assert reader.fills() == [record]
    assert reader.fills("kraken", "master") == [record]


@pytest.mark.parametrize("flag", [True, False])
def test_position_round_trips_with_real_booleans(store: StateStore, reader: StateStore, flag: bool) -> None:
    record = position(first_target_hit=flag, is_copy=flag, source_signal_id="sig-1" if flag else None)
    store.save_position(record)
    stored = reader.get_position("kraken", "alice", "BTC-USD")
    assert stored == record
    assert stored is not None
    assert type(stored.first_target_hit) is bool and stored.first_target_hit is flag
    assert type(stored.is_copy) is bool and stored.is_copy is flag
    assert reader.positions() == [record]


def test_signal_round_trips_with_enum_and_summary_dict(store: StateStore, reader: StateStore) -> None:
    record = signal()
    stored, created = store.record_signal(record)
    assert created is True
    assert stored == record
    read = reader.get_signal("sig-1")
    assert read == record
    assert read is not None
    assert read.status is SignalStatus.DONE
    assert type(read.summary) is dict
    assert read.summary == {"filled": 2, "failed": ["bob"], "detail": {"alice": 0.01, "carol": None, "paper": True}}


def test_signal_round_trips_with_none_fields(store: StateStore, reader: StateStore) -> None:
    record = signal("sig-min", fraction_sold=None, master_stop_price=None, master_client_order_id="",
                    status=SignalStatus.PENDING, summary=None, completed_at=None)
    store.record_signal(record)
    read = reader.get_signal("sig-min")
    assert read == record
    assert read is not None
    assert read.status is SignalStatus.PENDING
    assert read.summary is None and read.completed_at is None and read.fraction_sold is None


@pytest.mark.parametrize("status", list(CopyStatus))
def test_copy_event_round_trips_every_status(store: StateStore, reader: StateStore, status: CopyStatus) -> None:
    planned = copy_event(status=status)
    stored, created = store.add_copy(planned)
    assert created is True
    assert stored == planned
    read = reader.get_copy("sig-1", "alice")
    assert read == planned
    assert read is not None and read.status is status


def test_copy_event_round_trips_none_fields_through_save(
    store: StateStore, reader: StateStore, clock: ManualClock
) -> None:
    record = copy_event(requested_base=None, requested_quote=None, reason="", status=CopyStatus.FAILED)
    clock.advance(7.0)
    saved = store.save_copy(record)
    assert saved.updated_at == START + 7.0  # save_copy stamps the clock's time
    read = reader.get_copy("sig-1", "alice")
    assert read == saved
    assert read is not None and read.status is CopyStatus.FAILED
    assert reader.copies() == [saved]


def test_account_state_round_trips(store: StateStore, reader: StateStore) -> None:
    record = account_state()
    assert store.save_account_state(record) == record
    assert reader.get_account_state("kraken", "alice") == record
    assert reader.account_states() == [record]


@pytest.mark.parametrize("status", list(HealthStatus))
def test_health_round_trips_every_status(store: StateStore, reader: StateStore, status: HealthStatus) -> None:
    record = health(status=status, last_cycle_at=None if status is HealthStatus.FAILED else START - 1.0)
    store.save_health(record)
    read = reader.get_health("kraken", "alice")
    assert read == record
    assert read is not None and read.status is status
    assert reader.health_records() == [record]


def test_master_heartbeat_round_trips(store: StateStore, reader: StateStore, clock: ManualClock) -> None:
    assert store.beat_master("kraken") == MasterHeartbeat("kraken", "master", START)
    assert reader.master_heartbeat("kraken") == MasterHeartbeat("kraken", "master", START)
    store.beat_master("kraken", "boss", at=START + 42.5)
    assert reader.master_heartbeat("kraken") == MasterHeartbeat("kraken", "boss", START + 42.5)
    assert reader.master_heartbeat("coinbase") is None


def test_unknown_keys_read_as_none(store: StateStore) -> None:
    assert store.get_order("nope") is None
    assert store.get_position("kraken", "alice", "BTC-USD") is None
    assert store.get_signal("nope") is None
    assert store.get_copy("nope", "alice") is None
    assert store.get_account_state("kraken", "nope") is None
    assert store.get_health("kraken", "nope") is None


def test_trade_round_trips(store: StateStore, reader: StateStore) -> None:
    record = trade()
    store.save_trade(record)
    assert reader.trades() == [record]
    assert reader.trades("kraken", "alice") == [record] and reader.trades("kraken", "bob") == []


def test_amounts_come_back_as_the_exact_decimal_text_written(store: StateStore, reader: StateStore) -> None:
    """TEXT columns, not REAL: 0.00062080 stays 0.00062080 (a float would read back 0.0006208 or worse)."""
    store.save_position(position(quantity=Decimal("0.00062080"), cost_quote=Decimal("1.999999999999")))
    read = reader.get_position("kraken", "alice", "BTC-USD")
    assert read is not None
    assert type(read.quantity) is Decimal and str(read.quantity) == "0.00062080"
    assert str(read.cost_quote) == "1.999999999999"
    assert reader.get_order("x") is None
    store.record_order(order("x", filled_base=Decimal("45268470")))
    read_order = reader.get_order("x")
    assert read_order is not None and str(read_order.filled_base) == "45268470"
    assert read_order.plan is not None and read_order.plan.position_quantity == Decimal("0.125")


def test_an_order_plan_survives_json_with_every_field() -> None:
    plan = order().plan
    assert plan is not None
    assert OrderPlan.from_json(plan.to_json()) == plan
    assert OrderPlan.from_json(None) == OrderPlan() == OrderPlan.from_json(OrderPlan().to_json())
