"""Between the strategy's Position (float levels that exits reason about) and the stored PositionRecord.

The strategy only decides (stop, targets, trailing): it reads a float copy of the quantity and never
writes one back. The record's exact quantity and cost change only through the ledger's booking.
"""

from __future__ import annotations

from dataclasses import replace

from bot.state.records import PositionRecord
from bot.strategy.exits import Position


def to_position(record: PositionRecord) -> Position:
    return Position(
        symbol=record.symbol,
        entry_price=record.entry_price,
        quantity=float(record.quantity),
        initial_quantity=float(record.initial_quantity),
        stop_price=record.stop_price,
        initial_stop=record.initial_stop,
        risk_per_unit=record.risk_per_unit,
        first_target_hit=record.first_target_hit,
        # A record written without a close yet (a copy just bought) starts trailing from its entry.
        highest_close=record.highest_close if record.highest_close > 0 else record.entry_price,
        opened_at=record.opened_at,
    )


def with_levels(record: PositionRecord, position: Position) -> PositionRecord:
    """The record with the strategy's price levels (stop, highest close, first target) and nothing else changed."""
    return replace(
        record,
        stop_price=position.stop_price,
        highest_close=position.highest_close,
        first_target_hit=position.first_target_hit,
    )
