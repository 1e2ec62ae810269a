"""The invariants of issue 10, checked by comparing a bot's state store with what the exchange holds.

The exchange is the judge: what it executed is read from the simulator's state file (the exchange the
crash tests and the chaos benchmark run against), never from the bot. The store is read with plain
SQL, read-only, while the bot may still run. Checked:

1. every master fill is copied exactly once to every follower, or skipped with a recorded reason
   (a copy left FAILED or SKIPPED for a transient error, one of ``TransientError``'s kinds, is lost:
   it should have been retried);
2. no two exchange orders of one account carry one client order id, and no follower got two orders
   for one master fill (duplicates);
3. every exchange holding equals the store's position (to half the market's lot size);
4. every open position's initial stop is the one planned at entry (the master's plan: its level, or
   its distance below the actual fill; a copy takes its signal's stop), and each buy signal carries
   the master's planned stop;
5. a half exit stays a half exit: each sell signal's fraction is what the master actually sold of
   its holding, and each follower sold that fraction of its own.

The report counts each kind and says each problem in one line with both numbers.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.brokers import errors
from bot.sim.catalog import spec_for
from bot.sim.exchange import SimOrder
from bot.sim.persistence import SimStateFile, decode_record

FULL_CLOSE = 0.999  # a signal fraction at or above this is a full close (the copy engine's rule)
_FINAL_WITH_REASON = ("skipped", "failed")
_COPY_PURPOSES = ("copy_entry", "copy_exit")
_TRANSIENT_KINDS = frozenset(
    name for name, kind in vars(errors).items() if isinstance(kind, type) and issubclass(kind, errors.TransientError)
)


@dataclass(frozen=True)
class AuditAccount:
    """One bot account and the exchange account it trades."""

    broker: str
    account_id: str
    exchange_account: str
    is_master: bool = False

    @property
    def label(self) -> str:
        return f"{self.broker}:{self.account_id}"


@dataclass(frozen=True)
class ExchangeOrder:
    account: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    status: str
    filled_base: float
    fee_base: float = 0.0  # base the exchange kept as fee (Alpaca crypto buys)

    @property
    def base_delta(self) -> float:
        return self.filled_base - self.fee_base if self.side == "buy" else -(self.filled_base + self.fee_base)


@dataclass(frozen=True)
class ExchangeView:
    """What the exchange executed and holds, per exchange account; orders oldest first."""

    orders: Mapping[str, Sequence[ExchangeOrder]]
    holdings: Mapping[str, Mapping[str, float]]


def exchange_view_from_sim_state(path: Path) -> ExchangeView:
    """Read a simulator state file (the simulator may be running: the file is opened read-only)."""
    state = SimStateFile(path, read_only=True)
    try:
        snapshot = state.exchange_snapshot()
    finally:
        state.close()
    orders: dict[str, list[ExchangeOrder]] = defaultdict(list)
    for text in snapshot.orders:
        order = decode_record(SimOrder, text)
        orders[order.account_id].append(ExchangeOrder(
            order.account_id, order.order_id, order.client_order_id, order.symbol, order.side, order.status,
            order.filled_base, float(getattr(order, "fee_base", 0.0) or 0.0),
        ))
    holdings = {account: {asset: total for asset, (total, _) in wallet.items()}
                for account, wallet in snapshot.balances.items()}
    return ExchangeView(dict(orders), holdings)


@dataclass(frozen=True)
class PlannedStop:
    """A master entry as decided: its reference price and planned stop (evidence for stores without a plan)."""

    price: float
    stop: float

    @property
    def distance(self) -> float:
        return self.price - self.stop

    @property
    def fraction(self) -> float:
        return self.distance / self.price


@dataclass
class AuditReport:
    master_fills: int = 0
    copies_expected: int = 0
    copies_done: int = 0
    copies_skipped_with_reason: int = 0
    duplicates: int = 0
    lost: int = 0
    position_mismatches: int = 0
    stop_mismatches: int = 0
    half_exit_mismatches: int = 0
    signals_missing: int = 0
    unsettled_orders: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.position_mismatches or self.stop_mismatches
                    or self.half_exit_mismatches)

    def figures(self) -> dict[str, int]:
        return {
            "master_fills": self.master_fills, "copies_expected": self.copies_expected,
            "copies_done": self.copies_done, "copies_skipped_with_reason": self.copies_skipped_with_reason,
            "duplicates": self.duplicates, "lost": self.lost, "position_mismatches": self.position_mismatches,
            "stop_mismatches": self.stop_mismatches, "half_exit_mismatches": self.half_exit_mismatches,
            "signals_missing": self.signals_missing, "unsettled_orders": self.unsettled_orders,
        }

    def add(self, other: AuditReport) -> None:
        """Sum another report into this one (figures of several runs)."""
        for name, value in other.figures().items():
            setattr(self, name, getattr(self, name) + value)
        self.problems.extend(other.problems)


# ---- the store, read with plain SQL ----------------------------------------------------------------------


def _number(value: Any) -> float:
    """A stored amount (REAL, or TEXT holding a decimal string) as a float for comparisons."""
    if value is None or value == "":
        return 0.0
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        return 0.0


@dataclass(frozen=True)
class _Store:
    orders: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    copies: list[dict[str, Any]]
    positions: list[dict[str, Any]]


def _read_store(path: Path) -> _Store:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        def rows(table: str) -> list[dict[str, Any]]:
            return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]

        return _Store(rows("orders"), rows("signals"), rows("copy_events"), rows("positions"))
    finally:
        db.close()


def _plan(order: Mapping[str, Any] | None) -> dict[str, Any]:
    text = order.get("plan") if order else None
    return json.loads(text) if text else {}


def _lot(symbol: str) -> float:
    return 0.5 * 10.0 ** -spec_for(symbol).lot_decimals


def _is_transient(reason: str) -> bool:
    """A reason that names one of TransientError's kinds ("ExchangeUnavailable: ...")."""
    head = reason.split(":", 1)[0].strip()
    return head in _TRANSIENT_KINDS


# ---- the audit -----------------------------------------------------------------------------------------------


def audit(
    store_path: Path,
    exchange: ExchangeView,
    accounts: Sequence[AuditAccount],
    *,
    cash_assets: Iterable[str] = ("USD", "USDT", "USDC"),
    planned_stops: Mapping[str, PlannedStop] | None = None,
) -> AuditReport:
    """Check the invariants for every master and its followers (followers: the non-master accounts of its broker).

    planned_stops: master entries' plans by client order id, for stores that do not keep the plan.
    """
    store = _read_store(store_path)
    report = AuditReport()
    cash = {c.upper() for c in cash_assets}
    for master in (a for a in accounts if a.is_master):
        followers = [a for a in accounts if a.broker == master.broker and not a.is_master]
        _check_copies(report, store, exchange, master, followers)
        _check_half_exits(report, store, exchange, master, followers)
    for account in accounts:
        _check_holdings(report, store, exchange, account, cash)
    _check_stops(report, store, accounts, planned_stops or {})
    unsettled = [o for o in store.orders if o["status"] in ("in_flight", "open", "partially_filled")]
    report.unsettled_orders = len(unsettled)
    for order in unsettled:
        report.problems.append(f"unsettled {order['broker']}:{order['account_id']} {order['purpose']} "
                               f"{order['side']} {order['symbol']} {order['client_order_id'][:12]}: {order['status']}")
    return report


def _check_copies(report: AuditReport, store: _Store, exchange: ExchangeView, master: AuditAccount,
                  followers: Sequence[AuditAccount]) -> None:
    signals_by_fill: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for signal in store.signals:
        if signal["broker"] == master.broker:
            signals_by_fill[signal.get("master_client_order_id") or ""].append(signal)
    copies: dict[tuple[str, str], dict[str, Any]] = {(c["signal_id"], c["follower_id"]): c for c in store.copies}
    orders_by_signal: dict[tuple[str, str], set[str]] = defaultdict(set)
    for order in store.orders:  # a follower's own guard exit may carry the signal too: it is no copy
        if order.get("signal_id") and order.get("purpose") in _COPY_PURPOSES:
            orders_by_signal[(order["signal_id"], order["account_id"])].add(order["client_order_id"])
    extra_orders: set[str] = set()
    for account in (master, *followers):
        by_client: dict[str, list[ExchangeOrder]] = defaultdict(list)
        for order in exchange.orders.get(account.exchange_account, ()):
            if order.client_order_id:
                by_client[order.client_order_id].append(order)
        for client_id, same in by_client.items():
            if len(same) > 1:
                extra_orders.update(o.order_id for o in same[1:])
                report.problems.append(f"duplicate: {account.label} has {len(same)} exchange orders with client "
                                       f"order id {client_id}")

    fills = [o for o in exchange.orders.get(master.exchange_account, ()) if o.filled_base > 0]
    report.master_fills += len(fills)
    for fill in fills:
        signals = signals_by_fill.get(fill.client_order_id or "", [])
        what = f"{fill.side} {fill.symbol} {fill.filled_base:g} ({(fill.client_order_id or '')[:12]})"
        if not signals:
            report.signals_missing += 1
            report.problems.append(f"master fill {what} has no signal: its copies never happen")
        elif len(signals) > 1:
            report.problems.append(f"master fill {what} has {len(signals)} signals")
        for follower in followers:
            report.copies_expected += 1
            _judge_copy(report, exchange, fill, what, signals, follower, copies, orders_by_signal, extra_orders)
    report.duplicates += len(extra_orders)


def _judge_copy(
    report: AuditReport, exchange: ExchangeView, fill: ExchangeOrder, what: str,
    signals: Sequence[dict[str, Any]], follower: AuditAccount, copies: Mapping[tuple[str, str], dict[str, Any]],
    orders_by_signal: Mapping[tuple[str, str], set[str]], extra_orders: set[str],
) -> None:
    rows = [copies[(s["signal_id"], follower.account_id)] for s in signals
            if (s["signal_id"], follower.account_id) in copies]
    client_ids = {row["client_order_id"] for row in rows}
    for signal in signals:
        client_ids |= orders_by_signal.get((signal["signal_id"], follower.account_id), set())
    executed = [o for o in exchange.orders.get(follower.exchange_account, ())
                if o.client_order_id in client_ids and o.filled_base > 0 and o.side == fill.side]
    if len(executed) > 1:
        extra_orders.update(o.order_id for o in executed[1:])
        report.problems.append(f"duplicate: {follower.label} got {len(executed)} orders for master fill {what}")
    if executed:
        report.copies_done += 1
        if not any(row["status"] == "filled" for row in rows):
            statuses = ", ".join(row["status"] for row in rows) or "no copy row"
            report.problems.append(f"{follower.label} copy of {what} executed on the exchange but the store says "
                                   f"{statuses}")
        return
    final = [row for row in rows if row["status"] in _FINAL_WITH_REASON and (row.get("reason") or "").strip()]
    if final and not any(_is_transient(row["reason"]) for row in final):
        report.copies_skipped_with_reason += 1
        return
    report.lost += 1
    if not signals:
        why = "no signal"
    elif not rows:
        why = "no copy row"
    else:
        why = "; ".join(f"{row['status']}: {row.get('reason') or 'no reason'}" for row in rows)
    report.problems.append(f"lost: {follower.label} copy of master fill {what}: {why}")


def _check_holdings(report: AuditReport, store: _Store, exchange: ExchangeView, account: AuditAccount,
                    cash: set[str]) -> None:
    stored: dict[str, float] = defaultdict(float)
    symbols: dict[str, str] = {}
    for position in store.positions:
        if position["broker"] == account.broker and position["account_id"] == account.account_id:
            base = position["symbol"].split("-", 1)[0]
            stored[base] += _number(position["quantity"])
            symbols[base] = position["symbol"]
    held = exchange.holdings.get(account.exchange_account, {})
    for asset in sorted(set(stored) | {a for a, total in held.items() if total > 0}):
        if asset.upper() in cash:
            continue
        on_exchange, in_store = held.get(asset, 0.0), stored.get(asset, 0.0)
        if abs(on_exchange - in_store) > _lot(symbols.get(asset, f"{asset}-USD")):
            report.position_mismatches += 1
            report.problems.append(f"position {account.label} {asset}: exchange holds {on_exchange:.10g}, "
                                   f"store {in_store:.10g}")


def _check_stops(report: AuditReport, store: _Store, accounts: Sequence[AuditAccount],
                 planned_stops: Mapping[str, PlannedStop]) -> None:
    masters = {(a.broker, a.account_id) for a in accounts if a.is_master}
    known = {(a.broker, a.account_id) for a in accounts}
    orders = {o["client_order_id"]: o for o in store.orders}
    signals = {s["signal_id"]: s for s in store.signals}

    def planned(entry_order: Mapping[str, Any] | None) -> PlannedStop | None:
        """The master's entry as planned, from the order's plan or from evidence."""
        if entry_order is None:
            return None
        plan = _plan(entry_order)
        if plan.get("stop_distance") and plan.get("planned_stop"):
            stop = float(plan["planned_stop"])
            return PlannedStop(stop + float(plan["stop_distance"]), stop)
        return planned_stops.get(entry_order["client_order_id"])

    def as_planned(symbol: str, fill: float, stop: float, plan: PlannedStop) -> bool:
        """The planned level, or the planned distance below the actual fill (a fill away from the decision
        price keeps its risk); to the market's price tick."""
        tolerance = 10.0 ** -spec_for(symbol).pair_decimals + 1e-9 * fill
        return abs(stop - plan.stop) <= tolerance or abs((fill - stop) - plan.distance) <= tolerance

    def mismatch(what: str, symbol: str, fill: float, stop: float, plan: PlannedStop) -> None:
        report.stop_mismatches += 1
        report.problems.append(
            f"stop: {what} {symbol} {stop:.10g} ({(fill - stop) / fill:.4%} below {fill:.10g}), planned "
            f"{plan.stop:.10g} ({plan.fraction:.4%} below {plan.price:.10g})"
        )

    for signal in store.signals:
        if signal["side"] != "buy" or signal.get("master_stop_price") is None:
            continue
        plan = planned(orders.get(signal.get("master_client_order_id") or ""))
        fill, stop = _number(signal["fill_price"]), _number(signal["master_stop_price"])
        if plan is not None and fill > 0 and not as_planned(signal["symbol"], fill, stop, plan):
            mismatch(f"signal {signal['broker']} buy carries", signal["symbol"], fill, stop, plan)
    for position in store.positions:
        key = (position["broker"], position["account_id"])
        if key not in known:
            continue
        entry, stop = _number(position["entry_price"]), _number(position["initial_stop"])
        label = f"{position['broker']}:{position['account_id']} {position['symbol']}"
        if key in masters:
            entry_orders = [o for o in store.orders if (o["broker"], o["account_id"]) == key
                            and o["symbol"] == position["symbol"] and o.get("purpose") == "entry"
                            and _number(o.get("filled_base")) > 0]
            entry_orders.sort(key=lambda o: o["created_at"])
            plan = planned(entry_orders[-1] if entry_orders else None)
            if plan is not None and entry > 0 and not as_planned(position["symbol"], entry, stop, plan):
                mismatch(f"{position['broker']}:{position['account_id']} initial stop of", position["symbol"],
                         entry, stop, plan)
            continue
        signal = signals.get(position.get("source_signal_id") or "")
        master_stop = _number(signal.get("master_stop_price")) if signal else 0.0
        if 0 < master_stop < entry and abs(stop - master_stop) > 1e-9 * entry:
            report.stop_mismatches += 1
            report.problems.append(f"stop: {label} copy's initial stop {stop:.10g}, "
                                   f"its signal's stop {master_stop:.10g}")


def _check_half_exits(report: AuditReport, store: _Store, exchange: ExchangeView, master: AuditAccount,
                      followers: Sequence[AuditAccount]) -> None:
    signal_by_fill = {s.get("master_client_order_id"): s for s in store.signals if s["broker"] == master.broker}
    copies = {(c["signal_id"], c["follower_id"]): c for c in store.copies}
    fractions: dict[str, float] = {}  # signal id -> the fraction the master actually sold

    for fill, held_before in _sales(exchange.orders.get(master.exchange_account, ())):
        signal = signal_by_fill.get(fill.client_order_id)
        if signal is None or signal.get("fraction_sold") is None or held_before <= 0:
            continue
        actual = min(fill.filled_base / held_before, 1.0)
        fractions[signal["signal_id"]] = actual
        said = _number(signal["fraction_sold"])
        if abs(said - actual) > _lot(fill.symbol) / held_before + 1e-6:
            report.half_exit_mismatches += 1
            report.problems.append(f"half exit: master sold {actual:.4f} of its {fill.symbol} holding, its signal "
                                   f"says {said:.4f}")
    for follower in followers:
        by_client = {fill.client_order_id: (fill, held)
                     for fill, held in _sales(exchange.orders.get(follower.exchange_account, ()))}
        for signal_id, actual in fractions.items():
            copy = copies.get((signal_id, follower.account_id))
            if copy is None or copy["client_order_id"] not in by_client:
                continue
            fill, held_before = by_client[copy["client_order_id"]]
            if held_before <= 0:
                continue
            sold = fill.filled_base / held_before
            all_of_it = actual >= FULL_CLOSE or held_before * (1 - actual) < spec_for(fill.symbol).ordermin
            expected = 1.0 if all_of_it else actual
            if abs(sold - expected) > _lot(fill.symbol) / held_before + 1e-6:
                report.half_exit_mismatches += 1
                report.problems.append(f"half exit: {follower.label} sold {sold:.4f} of its {fill.symbol} holding "
                                       f"where the master sold {actual:.4f}")


def _sales(orders: Sequence[ExchangeOrder]) -> list[tuple[ExchangeOrder, float]]:
    """Each executed sale with the account's holding of that asset just before it (from the exchange's orders)."""
    holding: dict[str, float] = defaultdict(float)
    out = []
    for order in orders:
        if order.filled_base <= 0:
            continue
        base = order.symbol.split("-", 1)[0]
        if order.side == "sell":
            out.append((order, holding[base]))
        holding[base] += order.base_delta
    return out
