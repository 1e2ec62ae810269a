"""Plain values the state store reads and writes; every layer that persists something speaks these.

Statuses are string enums so a row read back compares equal to the value written. Amounts of money
and quantities are ``Decimal`` (stored as the decimal string), prices for the strategy and
valuations are floats; quantities keep their unit in the name (``_base`` in base units, ``_quote``
in quote currency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)


class CopyStatus(StrEnum):
    PLANNED = "planned"  # in the outbox: not sized or not sent yet (retried with back-off)
    SENT = "sent"  # its order's intent is written: settled by client order id, never sent twice
    FILLED = "filled"
    FAILED = "failed"  # a permanent reason: rejected, key refused, no credentials
    SKIPPED = "skipped"  # under a minimum, nothing to sell, no such market, stale entry
    OBSERVED = "observed"  # COPY_OBSERVE_ONLY: what would have been sent

    @property
    def is_final(self) -> bool:
        return self not in (CopyStatus.PLANNED, CopyStatus.SENT)


class SignalStatus(StrEnum):
    PENDING = "pending"  # some copies not final yet
    DONE = "done"


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True)
class OrderPlan:
    """Everything booking an order needs that the exchange's answer does not carry.

    Written with the order's intent, before it is sent, so an order settled after a crash is
    booked exactly as the run that sent it would have booked it (issue 10, failures 4 and 5).
    """

    equity_before: float = 0.0  # USD equity when the order was decided (a master's signal carries it)
    emits_signal: bool = False  # a master's fill becomes a copy signal
    # entries
    stop_distance: float | None = None  # entry minus planned stop, in quote per base unit
    planned_stop: float | None = None  # the stop as planned at the decision price
    targets: tuple[float, ...] = ()  # first and second target prices as planned (for reports)
    # exits
    exit_reason: str | None = None
    sell_fraction: float | None = None  # of the position when decided (1.0: all of it)
    position_quantity: Decimal | None = None  # the booked position the sale was decided on
    keep_stop: float | None = None  # the stop the position keeps after a part sale
    highest_close: float | None = None
    # copies
    copy_stop: float | None = None  # a copy's protective stop: the master's planned stop
    master_fill_price: float | None = None  # the master's fill, for a copy filled under the master's stop

    def to_json(self) -> str:
        values: dict[str, Any] = {}
        for name in _PLAN_FIELDS:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            values[name] = str(value) if isinstance(value, Decimal) else value
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> OrderPlan:
        if not text:
            return cls()
        values: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        if values.get("position_quantity") is not None:
            values["position_quantity"] = Decimal(values["position_quantity"])
        if "targets" in values:
            values["targets"] = tuple(values["targets"])
        return cls(**values)


_PLAN_FIELDS = tuple(f.name for f in fields(OrderPlan))

#: order statuses that are not final (bot.brokers.base.OrderStatus's in_flight, open and partially_filled, written
#: here as the store holds them): the order is in flight until a look-up settles it
UNSETTLED: tuple[str, ...] = ("in_flight", "open", "partially_filled")


@dataclass(frozen=True)
class OrderRecord:
    """One order of one account: its intent (written before it is sent) and what the exchange said.

    Its status is final only once the order is booked: the ledger writes the final status in the
    same transaction as the fill and the position.
    """

    client_order_id: str
    broker: str
    account_id: str
    symbol: str
    side: str
    status: str  # an OrderStatus value
    requested_base: Decimal | None = None
    requested_quote: Decimal | None = None
    purpose: str = ""  # entry, exit, copy_entry, copy_exit, guard_exit
    signal_id: str | None = None
    reason: str = ""
    exchange_order_id: str | None = None
    filled_base: Decimal = ZERO
    filled_quote: Decimal = ZERO
    avg_price: Decimal = ZERO
    fee_quote: Decimal = ZERO
    fee_base: Decimal = ZERO
    plan: OrderPlan | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    next_check_at: float | None = None  # when an unsettled order is looked up next
    checks: int = 0  # look-ups so far (back-off)


@dataclass(frozen=True)
class FillRecord:
    """One executed order as booked: gross quantity, value and fees; realised P&L on sales."""

    fill_id: str
    broker: str
    account_id: str
    client_order_id: str
    symbol: str
    side: str
    base_qty: Decimal  # executed, gross
    price: Decimal
    quote_qty: Decimal = ZERO  # executed value, fees excluded
    fee_quote: Decimal = ZERO
    fee_base: Decimal = ZERO
    realised_pnl: Decimal | None = None  # sales: proceeds less the average cost of what was sold
    trade_id: str | None = None  # the round trip it belongs to
    time: float = 0.0
    exchange_order_id: str | None = None

    @property
    def base_delta(self) -> Decimal:
        return self.base_qty - self.fee_base if self.side == "buy" else -(self.base_qty + self.fee_base)

    @property
    def quote_delta(self) -> Decimal:
        return -(self.quote_qty + self.fee_quote) if self.side == "buy" else self.quote_qty - self.fee_quote


@dataclass(frozen=True)
class PositionRecord:
    """An open position: exact quantity and cost, the strategy's price levels, and where it came from."""

    broker: str
    account_id: str
    symbol: str
    entry_price: float
    quantity: Decimal
    initial_quantity: Decimal
    stop_price: float
    initial_stop: float  # the stop planned at entry
    risk_per_unit: float
    opened_at: float
    first_target_hit: bool = False
    highest_close: float = 0.0
    is_copy: bool = False
    source_signal_id: str | None = None
    cost_quote: Decimal = ZERO  # quote paid for what is held, fees included (average cost)
    trade_id: str = ""  # the round trip: its fills carry it, its trades row is written at close


@dataclass(frozen=True)
class TradeRecord:
    """A closed round trip of one position (issue 12 reads these)."""

    trade_id: str
    broker: str
    account_id: str
    symbol: str
    opened_at: float
    closed_at: float
    quantity: Decimal  # base received over the round trip
    avg_entry: Decimal
    avg_exit: Decimal
    fees_quote: Decimal
    realised_pnl: Decimal
    exit_reasons: str = ""  # comma-separated, in order
    is_copy: bool = False
    source_signal_id: str | None = None


@dataclass(frozen=True)
class SignalRecord:
    """One master fill, booked in the same transaction as the fill; copied once to every follower.

    ``quote_notional`` is what the master spent on a buy, fee included (followers are sized from
    it), and what a sale brought in, fee deducted.
    """

    signal_id: str
    broker: str
    symbol: str
    side: str
    fill_price: Decimal
    filled_base: Decimal
    quote_notional: Decimal
    master_order_id: str
    master_equity: float
    time: float
    fraction_sold: Decimal | None = None  # sales: share of the master's position sold (1 = full close)
    master_stop_price: float | None = None  # buys: the master's planned stop, copied by followers
    master_client_order_id: str = ""
    status: SignalStatus = SignalStatus.PENDING
    summary: dict[str, Any] | None = None
    completed_at: float | None = None


@dataclass(frozen=True)
class CopyRecord:
    """One follower's copy of one signal: a row of the durable outbox, driven to a final status."""

    signal_id: str
    broker: str
    follower_id: str
    status: CopyStatus
    client_order_id: str
    side: str
    symbol: str
    reason: str = ""
    requested_base: Decimal | None = None
    requested_quote: Decimal | None = None
    attempts: int = 0
    next_attempt_at: float = 0.0
    created_at: float = 0.0
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
    # The figures behind the verdict (bot/trading/health.py): the recent window and why it says what it says.
    reason: str = ""
    fix: str = ""
    recent_passes: int = 0
    recent_failed_passes: int = 0
    recent_calls: int = 0
    recent_failed_calls: int = 0


@dataclass(frozen=True)
class MasterHeartbeat:
    """When a brokerage's master last completed a cycle; followers' guards read it."""

    broker: str
    account_id: str
    last_seen: float
