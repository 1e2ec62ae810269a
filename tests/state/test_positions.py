"""The strategy's Position and the stored PositionRecord convert both ways without losing anything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.state.positions import to_position, to_record
from bot.state.store import StateStore
from bot.strategy.exits import Position
from tests.state.conftest import START, position


def _trailing_position() -> Position:
    """A position past its first target, trailing: every field differs from what Position.open sets."""
    opened = Position.open("ETH-USD", entry_price=3_000.5, quantity=2.0, stop_price=2_900.25, opened_at=START)
    return replace(opened, quantity=1.0, stop_price=3_000.5, first_target_hit=True, highest_close=3_333.75)


@pytest.mark.parametrize(("is_copy", "source"), [(True, "sig-7"), (False, None)])
def test_position_to_record_and_back(is_copy: bool, source: str | None) -> None:
    original = _trailing_position()
    record = to_record("coinbase", "carol", original, is_copy=is_copy, source_signal_id=source)
    assert (record.broker, record.account_id, record.symbol) == ("coinbase", "carol", "ETH-USD")
    assert (record.is_copy, record.source_signal_id) == (is_copy, source)
    assert (record.initial_quantity, record.initial_stop, record.risk_per_unit) == (2.0, 2_900.25, 100.25)
    assert to_position(record) == original


def test_position_through_the_store(store: StateStore) -> None:
    original = _trailing_position()
    store.save_position(to_record("kraken", "alice", original, is_copy=True, source_signal_id="sig-1"))
    stored = store.get_position("kraken", "alice", "ETH-USD")
    assert stored is not None
    assert to_position(stored) == original


def test_no_close_yet_trails_from_the_entry_price() -> None:
    record = position(highest_close=0.0, entry_price=64_000.25)
    assert to_position(record).highest_close == 64_000.25
    assert to_position(replace(record, highest_close=65_000.0)).highest_close == 65_000.0
