"""Between the strategy's Position (what exits reason about) and the stored PositionRecord (whose it is)."""

from __future__ import annotations

from bot.state.records import PositionRecord
from bot.strategy.exits import Position


def to_position(record: PositionRecord) -> Position:
    return Position(
        symbol=record.symbol,
        entry_price=record.entry_price,
        quantity=record.quantity,
        initial_quantity=record.initial_quantity,
        stop_price=record.stop_price,
        initial_stop=record.initial_stop,
        risk_per_unit=record.risk_per_unit,
        first_target_hit=record.first_target_hit,
        # A record written without a close yet (a copy just bought) starts trailing from its entry.
        highest_close=record.highest_close if record.highest_close > 0 else record.entry_price,
        opened_at=record.opened_at,
    )


def to_record(
    broker: str, account_id: str, position: Position, *, is_copy: bool = False, source_signal_id: str | None = None
) -> PositionRecord:
    return PositionRecord(
        broker=broker,
        account_id=account_id,
        symbol=position.symbol,
        entry_price=position.entry_price,
        quantity=position.quantity,
        initial_quantity=position.initial_quantity,
        stop_price=position.stop_price,
        initial_stop=position.initial_stop,
        risk_per_unit=position.risk_per_unit,
        opened_at=position.opened_at,
        first_target_hit=position.first_target_hit,
        highest_close=position.highest_close,
        is_copy=is_copy,
        source_signal_id=source_signal_id,
    )
