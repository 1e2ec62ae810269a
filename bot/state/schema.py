"""Tables of the state store; one table per record type, columns named as the record's fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.state.records import (
    AccountStateRecord,
    CopyEventRecord,
    CopyStatus,
    FillRecord,
    HealthRecord,
    HealthStatus,
    MasterHeartbeat,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
)

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Table:
    """How one record type is stored: its table, primary key, and the columns that need converting."""

    name: str
    record: type
    key: tuple[str, ...]
    enums: dict[str, type[StrEnum]] = field(default_factory=dict)
    booleans: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = ()


ORDERS = Table("orders", OrderRecord, ("client_order_id",))
FILLS = Table("fills", FillRecord, ("fill_id",))
POSITIONS = Table("positions", PositionRecord, ("broker", "account_id", "symbol"),
                  booleans=("first_target_hit", "is_copy"))
SIGNALS = Table("signals", SignalRecord, ("signal_id",), enums={"status": SignalStatus}, json_columns=("summary",))
COPY_EVENTS = Table("copy_events", CopyEventRecord, ("signal_id", "follower_id"), enums={"status": CopyStatus})
ACCOUNT_STATES = Table("account_states", AccountStateRecord, ("broker", "account_id"))
HEALTH = Table("health", HealthRecord, ("broker", "account_id"), enums={"status": HealthStatus})
HEARTBEATS = Table("master_heartbeats", MasterHeartbeat, ("broker",))

DDL = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}');

CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, status TEXT NOT NULL, requested_base REAL, requested_quote REAL,
    purpose TEXT NOT NULL DEFAULT '', signal_id TEXT, reason TEXT NOT NULL DEFAULT '', exchange_order_id TEXT,
    filled_base REAL NOT NULL DEFAULT 0, avg_price REAL NOT NULL DEFAULT 0, fee_quote REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_account ON orders (broker, account_id, status);

CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, base_qty REAL NOT NULL, price REAL NOT NULL,
    fee_quote REAL NOT NULL DEFAULT 0, time REAL NOT NULL, exchange_order_id TEXT
);
CREATE INDEX IF NOT EXISTS fills_by_account ON fills (broker, account_id, time);

CREATE TABLE IF NOT EXISTS positions (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL, entry_price REAL NOT NULL,
    quantity REAL NOT NULL, initial_quantity REAL NOT NULL, stop_price REAL NOT NULL, initial_stop REAL NOT NULL,
    risk_per_unit REAL NOT NULL, opened_at REAL NOT NULL, first_target_hit INTEGER NOT NULL DEFAULT 0,
    highest_close REAL NOT NULL DEFAULT 0, is_copy INTEGER NOT NULL DEFAULT 0, source_signal_id TEXT,
    PRIMARY KEY (broker, account_id, symbol)
);

CREATE TABLE IF NOT EXISTS signals (
    signal_id TEXT PRIMARY KEY, broker TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    fill_price REAL NOT NULL, filled_base REAL NOT NULL, quote_notional REAL NOT NULL,
    master_order_id TEXT NOT NULL, master_equity REAL NOT NULL, time REAL NOT NULL, fraction_sold REAL,
    master_stop_price REAL, master_client_order_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    summary TEXT, completed_at REAL,
    UNIQUE (broker, master_order_id)
);
CREATE INDEX IF NOT EXISTS signals_by_status ON signals (broker, status);

CREATE TABLE IF NOT EXISTS copy_events (
    signal_id TEXT NOT NULL, broker TEXT NOT NULL, follower_id TEXT NOT NULL,
    status TEXT NOT NULL, client_order_id TEXT NOT NULL UNIQUE, side TEXT NOT NULL, symbol TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', requested_base REAL, requested_quote REAL,
    filled_base REAL NOT NULL DEFAULT 0, avg_price REAL NOT NULL DEFAULT 0, fee_quote REAL NOT NULL DEFAULT 0,
    exchange_order_id TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (signal_id, follower_id)
);
CREATE INDEX IF NOT EXISTS copy_events_by_follower ON copy_events (broker, follower_id);

CREATE TABLE IF NOT EXISTS account_states (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, role TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL, fix TEXT NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    open_positions INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (broker, account_id)
);

CREATE TABLE IF NOT EXISTS health (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, cycles INTEGER NOT NULL,
    successes INTEGER NOT NULL, consecutive_errors INTEGER NOT NULL, last_error TEXT NOT NULL,
    last_cycle_at REAL,
    PRIMARY KEY (broker, account_id)
);

CREATE TABLE IF NOT EXISTS master_heartbeats (
    broker TEXT PRIMARY KEY, account_id TEXT NOT NULL, last_seen REAL NOT NULL
);
"""
