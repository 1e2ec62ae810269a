"""Bring an older state store up to the current schema, in one transaction, before anything else writes.

Version 1 kept amounts as REAL and had no order plan, no realised P&L, no copy retry columns and no
``trades`` table. Its amounts are read back by their shortest repr (the decimal text the exchange
sent, for any amount with at most 15 significant digits) and rewritten as decimal strings. What
version 1 never knew stays unknown rather than invented: an unsettled order has no plan (the
ledger books it with its cautious defaults and says so), a position's cost is its quantity at its
entry price (fees were not kept).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot.state.records import CopyStatus
from bot.state.schema import (
    COPIES,
    FILLS,
    HEALTH_WINDOW_COLUMNS,
    INDEXES,
    ORDERS,
    POSITIONS,
    SIGNALS,
    TABLE_DDL,
    Table,
)

Row = dict[str, Any]


class MigrationError(ValueError):
    """A row of the old store that cannot be read as the new schema expects (the store is left as it was)."""


def _amount(value: object) -> Decimal | None:
    """A version-1 REAL as the decimal it was written from."""
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def _zero(value: object) -> Decimal:
    return _amount(value) or Decimal(0)


def _order(row: Row) -> Row:
    filled, price = _zero(row["filled_base"]), _zero(row["avg_price"])
    return {
        **row, "requested_base": _amount(row["requested_base"]), "requested_quote": _amount(row["requested_quote"]),
        "filled_base": filled, "avg_price": price, "filled_quote": filled * price, "fee_quote": _zero(row["fee_quote"]),
        "fee_base": Decimal(0), "plan": None, "next_check_at": None, "checks": 0,
    }


def _position_trade_id(row: Row) -> str:
    return f"v1-{row['broker']}-{row['account_id']}-{row['symbol']}-{row['opened_at']!r}"


def _position(row: Row) -> Row:
    quantity = _zero(row["quantity"])
    return {
        **row, "quantity": quantity, "initial_quantity": _zero(row["initial_quantity"]),
        "first_target_hit": bool(row["first_target_hit"]), "is_copy": bool(row["is_copy"]),
        "cost_quote": quantity * _zero(row["entry_price"]), "trade_id": _position_trade_id(row),
    }


def _signal(row: Row) -> Row:
    return {
        **row, "fill_price": _zero(row["fill_price"]), "filled_base": _zero(row["filled_base"]),
        "quote_notional": _zero(row["quote_notional"]), "fraction_sold": _amount(row["fraction_sold"]),
        "summary": None if row["summary"] is None else json.loads(row["summary"]),
    }


def _copy(row: Row) -> Row:
    kept = {k: v for k, v in row.items() if k not in ("filled_base", "avg_price", "fee_quote", "exchange_order_id")}
    return {
        **kept, "status": CopyStatus(row["status"]), "requested_base": _amount(row["requested_base"]),
        "requested_quote": _amount(row["requested_quote"]), "attempts": 0, "next_attempt_at": 0.0,
        "created_at": row["updated_at"],
    }


class _FillLinker:
    """Version-1 fills of a position still open belong to its round trip (so its trades row counts the buy)."""

    def __init__(self, positions: list[Row]) -> None:
        self.open = {(p["broker"], p["account_id"], p["symbol"]): p for p in positions}

    def __call__(self, row: Row) -> Row:
        position = self.open.get((row["broker"], row["account_id"], row["symbol"]))
        trade_id = _position_trade_id(position) if position and row["time"] >= position["opened_at"] else None
        return {
            **row, "base_qty": _zero(row["base_qty"]), "price": _zero(row["price"]),
            "quote_qty": _zero(row["base_qty"]) * _zero(row["price"]), "fee_quote": _zero(row["fee_quote"]),
            "fee_base": Decimal(0), "realised_pnl": None, "trade_id": trade_id,
        }


def _rows(conn: sqlite3.Connection, table: str) -> list[Row]:
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def _rebuild(conn: sqlite3.Connection, table: Table, convert: Callable[[Row], Row], old: list[Row]) -> None:
    conn.execute(f"DROP TABLE {table.name}")
    conn.execute(TABLE_DDL[table.name])
    for number, row in enumerate(old, 1):
        try:
            record = table.record(**convert(row))
        except (ArithmeticError, TypeError, ValueError) as error:
            key = ", ".join(str(row.get(k)) for k in table.key)
            raise MigrationError(f"{table.name} row {number} ({key}) cannot be converted: {error!r}") from error
        values = table.encode(record)
        columns = ", ".join(values)
        conn.execute(f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(':' + c for c in values)})", values)


def migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2 on an open connection, inside the caller's transaction."""
    positions = _rows(conn, "positions")
    old = {name: _rows(conn, name) for name in ("orders", "fills", "signals", "copy_events")}
    _rebuild(conn, ORDERS, _order, old["orders"])
    _rebuild(conn, FILLS, _FillLinker(positions), old["fills"])
    _rebuild(conn, POSITIONS, _position, positions)
    _rebuild(conn, SIGNALS, _signal, old["signals"])
    _rebuild(conn, COPIES, _copy, old["copy_events"])
    conn.execute(TABLE_DDL["trades"])
    for statement in INDEXES:
        conn.execute(statement)
    conn.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")


def migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Version 2 -> 3: the health table gains the figures behind its verdict (zero / empty until the next pass)."""
    for column in HEALTH_WINDOW_COLUMNS.split(", "):
        conn.execute(f"ALTER TABLE health ADD COLUMN {column}")
    conn.execute("UPDATE meta SET value = '3' WHERE name = 'schema_version'")


#: from version N to N + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: migrate_1_to_2, 2: migrate_2_to_3}


def migrate(conn: sqlite3.Connection, version: int, target: int) -> None:
    """Apply every step from `version` to `target` in one transaction: all of them land, or none."""
    if version >= target:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in range(version, target):
            MIGRATIONS[step](conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
