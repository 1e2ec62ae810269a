"""Plain values the state store reads and writes; every layer that persists something speaks these.

Statuses are string enums so a row read back compares equal to the value written, and quantities
keep their unit in the name (``_base`` in base units, ``_quote`` in quote currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CopyStatus(StrEnum):
    PLANNED = "planned"  # sized and stored, nothing sent yet
    SENT = "sent"  # may be on the exchange: looked up before anything is resent
    FILLED = "filled"
    FAILED = "failed"
    SKIPPED = "skipped"  # under a minimum, nothing to sell, no such market
    OBSERVED = "observed"  # COPY_OBSERVE_ONLY: what would have been sent

    @property
    def is_final(self) -> bool:
        return self not in (CopyStatus.PLANNED, CopyStatus.SENT)


class SignalStatus(StrEnum):
    PENDING = "pending"  # fan-out not finished: resumed after a restart
    DONE = "done"


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True)
class OrderRecord:
    """One order of one account, written before it is sent and updated with what the exchange said."""

    client_order_id: str
    broker: str
    account_id: str
    symbol: str
    side: str
    status: str  # an OrderStatus value
    requested_base: float | None = None
    requested_quote: float | None = None
    purpose: str = ""  # entry, exit, copy_entry, copy_exit, guard_exit
    signal_id: str | None = None
    reason: str = ""
    exchange_order_id: str | None = None
    filled_base: float = 0.0
    avg_price: float = 0.0
    fee_quote: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class FillRecord:
    fill_id: str
    broker: str
    account_id: str
    client_order_id: str
    symbol: str
    side: str
    base_qty: float
    price: float
    fee_quote: float = 0.0
    time: float = 0.0
    exchange_order_id: str | None = None


@dataclass(frozen=True)
class PositionRecord:
    """An open position as the strategy's Position sees it, plus who owns it and where it came from."""

    broker: str
    account_id: str
    symbol: str
    entry_price: float
    quantity: float
    initial_quantity: float
    stop_price: float
    initial_stop: float
    risk_per_unit: float
    opened_at: float
    first_target_hit: bool = False
    highest_close: float = 0.0
    is_copy: bool = False
    source_signal_id: str | None = None


@dataclass(frozen=True)
class SignalRecord:
    """One master fill, stored before any follower is touched (exactly-once across restarts)."""

    signal_id: str
    broker: str
    symbol: str
    side: str
    fill_price: float
    filled_base: float
    quote_notional: float
    master_order_id: str
    master_equity: float
    time: float
    fraction_sold: float | None = None
    master_stop_price: float | None = None
    master_client_order_id: str = ""
    status: SignalStatus = SignalStatus.PENDING
    summary: dict[str, Any] | None = None
    completed_at: float | None = None


@dataclass(frozen=True)
class CopyEventRecord:
    """One follower's copy of one signal: planned, sent, and its outcome."""

    signal_id: str
    broker: str
    follower_id: str
    status: CopyStatus
    client_order_id: str
    side: str
    symbol: str
    reason: str = ""
    requested_base: float | None = None
    requested_quote: float | None = None
    filled_base: float = 0.0
    avg_price: float = 0.0
    fee_quote: float = 0.0
    exchange_order_id: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class AccountStateRecord:
    """The account's line of the start-up table (docs/rules.md §3): state, reason, fix, money."""

    broker: str
    account_id: str
    role: str
    state: str
    reason: str
    fix: str
    equity: float = 0.0
    cash: float = 0.0
    open_positions: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True)
class HealthRecord:
    broker: str
    account_id: str
    status: HealthStatus = HealthStatus.HEALTHY
    cycles: int = 0
    successes: int = 0
    consecutive_errors: int = 0
    last_error: str = ""
    last_cycle_at: float | None = None


@dataclass(frozen=True)
class MasterHeartbeat:
    """When a brokerage's master last completed a cycle; followers' guards read it."""

    broker: str
    account_id: str
    last_seen: float
