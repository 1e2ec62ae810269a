"""The strategy's Position is read from a stored PositionRecord, and only its price levels go back."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.state.positions import to_position, with_levels
from bot.state.store import StateStore
from tests.state.conftest import position


def test_record_to_position_keeps_every_level() -> None:
    record = position()
    strategy = to_position(record)
    assert (strategy.symbol, strategy.entry_price, strategy.stop_price, strategy.initial_stop) == (
        "BTC-USD", 64_000.25, 63_000.5, 62_500.0)
    assert strategy.quantity == 0.05 and strategy.initial_quantity == 0.1
    assert (strategy.risk_per_unit, strategy.first_target_hit, strategy.highest_close) == (1_500.25, True, 65_100.75)


def test_only_levels_go_back_the_exact_quantity_and_cost_never_do(store: StateStore) -> None:
    record = position(quantity=Decimal("0.00062080"), cost_quote=Decimal("1.86"))
    moved = replace(to_position(record), quantity=0.123, stop_price=64_100.0, highest_close=66_000.0,
                    first_target_hit=True)
    updated = with_levels(record, moved)
    assert (updated.stop_price, updated.highest_close, updated.first_target_hit) == (64_100.0, 66_000.0, True)
    assert str(updated.quantity) == "0.00062080" and updated.cost_quote == Decimal("1.86")
    store.save_position(updated)
    assert store.get_position("kraken", "alice", "BTC-USD") == updated


def test_no_close_yet_trails_from_the_entry_price() -> None:
    record = position(highest_close=0.0, entry_price=64_000.25)
    assert to_position(record).highest_close == 64_000.25
    assert to_position(replace(record, highest_close=65_000.0)).highest_close == 65_000.0
