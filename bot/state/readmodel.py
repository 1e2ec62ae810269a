"""Every read the operator's windows make of the trading tables: the dashboard, the REST API, /metrics,
notifications, `status` and `trades` (issue 12).

The trading tables belong to the execution ledger and their schema changes with it; this module is the
one place that knows their columns, so adapting to a new schema is a change here and nowhere else.
It reads on its own read-only connection: a page view never holds the trading store's lock, and WAL
lets it read while the bot writes.

Trades (closed round trips) are the ledger's ``trades`` rows, with the realised P&L it booked by average cost
(a schema-1 store, not yet migrated by the bot, has none). Amounts are the decimal strings the ledger
writes, read as floats here: these views value and display, they never book.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from bot.execution.ids import account_label, signal_id_for
from bot.state.sqlite import connect, table_names

_FLAT = 1e-9  # a position whose quantity falls under this share of what was bought is closed
DAY_SECONDS = 86_400.0
#: a copy's fill: the copy engine books it under the fill id "order:<client order id>" (an indexed look-up)
_COPY_FILL = "f.fill_id = 'order:' || c.client_order_id"
#: seconds from the master's fill (s) to the follower's (f), never negative
_LATENCY = "(CASE WHEN f.time > s.time THEN f.time - s.time ELSE 0.0 END)"
_IDS_PER_QUERY = 500  # ids bound in one IN (...), well under SQLite's lowest limit on parameters (999)


R = TypeVar("R")


class ReadModelError(RuntimeError):
    """The store cannot be read; str() names the file."""


@dataclass(frozen=True)
class HealthView:
    status: str
    cycles: int
    successes: int
    consecutive_errors: int
    last_error: str
    last_cycle_at: float | None
    figures: dict[str, Any] = field(default_factory=dict)  # anything else the health record carries


@dataclass(frozen=True)
class AccountView:
    """One account as the bot last stored it, with its realised P&L."""

    broker: str
    account_id: str
    label: str
    role: str
    state: str
    reason: str
    fix: str
    equity: float
    cash: float
    open_positions: int
    updated_at: float
    health: HealthView | None
    trades: int
    realised_pnl: float
    realised_pnl_today: float
    fees: float
    open_trip_pnl: float = 0.0  # trips still open: realised on partial exits, minus every fee paid so far


@dataclass(frozen=True)
class PositionView:
    broker: str
    account_id: str
    symbol: str
    quantity: float
    entry_price: float
    stop_price: float
    opened_at: float
    is_copy: bool
    source_signal_id: str | None
    cost: float = 0.0  # quote paid for what is held, fees included (the ledger's average cost)


@dataclass(frozen=True)
class TradeView:
    """One closed round trip: bought from flat, sold back to flat."""

    broker: str
    account_id: str
    symbol: str
    opened_at: float
    closed_at: float
    quantity: float  # base units bought
    entry_price: float  # average buy price
    exit_price: float  # average sell price
    fees: float  # quote, buys and sells
    realised_pnl: float  # quote, fees included
    return_pct: float  # realised P&L over what the buys cost, in percent
    exit_reasons: tuple[str, ...]
    is_copy: bool
    entry_signal_id: str | None  # for a copy: the master fill it copied; for a master: the signal it emitted
    trade_id: str = ""  # the ledger's id of the round trip (its fills carry it)


@dataclass(frozen=True)
class CopyView:
    """One follower's copy of one master fill: what was done, and why."""

    follower_id: str
    status: str  # planned | sent | filled | failed | skipped | observed
    reason: str  # the sizing arithmetic for a fill, why for a skip or failure
    requested_base: float | None
    requested_quote: float | None
    filled_base: float
    avg_price: float
    fee_quote: float
    filled_at: float | None
    latency_seconds: float | None  # master fill to follower fill
    updated_at: float
    attempts: int = 0  # tries so far (the ledger's outbox retries a copy that met a passing error)


@dataclass(frozen=True)
class SignalView:
    """One master fill and every follower's copy of it."""

    signal_id: str
    broker: str
    symbol: str
    side: str
    fill_price: float
    filled_base: float
    quote_notional: float
    master_equity: float
    time: float
    fraction_sold: float | None
    status: str  # pending | done
    completed_at: float | None
    copies: tuple[CopyView, ...]

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for copy in self.copies:
            found[copy.status] += 1
        return dict(found)

    def summary_line(self) -> str:
        """One line: the master fill and what its copies did (notifications, console)."""
        counts = self.counts
        parts = [f"{n} {status}" for status, n in sorted(counts.items())]
        head = f"{self.broker}:master {self.side.upper()} {self.filled_base:g} {self.symbol} @ {self.fill_price:g}"
        if self.side == "sell" and self.fraction_sold is not None:
            head += f" ({self.fraction_sold:.0%} of the position)"
        copies = ", ".join(parts) if parts else "no followers"
        details = [f"{c.follower_id} {c.status}: {c.reason}" for c in self.copies if c.status in ("skipped", "failed")]
        return f"{head}; copies: {copies}" + "".join(f"; {d}" for d in details)


@dataclass(frozen=True)
class OrderCount:
    broker: str
    account_id: str
    purpose: str
    status: str
    count: int


@dataclass(frozen=True)
class FillCount:
    broker: str
    account_id: str
    side: str
    count: int


@dataclass(frozen=True)
class TrackingView:
    """A follower's results beside its master's over the same copied trades."""

    broker: str
    follower_id: str
    copies_filled: int
    copies_skipped: int
    copies_failed: int
    matched_trades: int  # closed round trips of the follower paired with the master's from the same entry
    follower_return_pct: float | None  # mean return of those trades
    master_return_pct: float | None
    tracking_difference_pct: float | None  # follower minus master, percentage points per trade
    mean_latency_seconds: float | None


@dataclass
class _Book:
    """One account's closed trades, summed once: totals, and the running P&L by close time (P&L since a moment
    is then one bisection)."""

    closed_at: list[float] = field(default_factory=list)  # sorted
    pnl: list[float] = field(default_factory=list)  # each trade's realised P&L, in the same order
    running: list[float] = field(default_factory=list)  # realised P&L up to and including each close
    realised: float = 0.0
    fees: float = 0.0

    def add(self, trade: TradeView) -> None:
        """Trades come in booking order; one booked late, with an earlier close, is put in its place."""
        at = bisect.bisect_right(self.closed_at, trade.closed_at)
        self.closed_at.insert(at, trade.closed_at)
        self.pnl.insert(at, trade.realised_pnl)
        self.running.insert(at, 0.0)
        for i in range(at, len(self.running)):  # only the tail after ``at``: nothing when it is the newest
            self.running[i] = (self.running[i - 1] if i else 0.0) + self.pnl[i]
        self.realised += trade.realised_pnl
        self.fees += trade.fees

    def realised_since(self, moment: float) -> float:
        before = bisect.bisect_left(self.closed_at, moment)
        return self.realised - (self.running[before - 1] if before else 0.0)


def _paired_returns(trades: list[TradeView]) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(broker, follower) -> (round trips paired with the master's from the same entry, mean follower return,
    mean master return of those same trips)."""
    masters = {t.entry_signal_id: t for t in trades if not t.is_copy and t.entry_signal_id is not None}
    paired: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for trade in trades:
        master = masters.get(trade.entry_signal_id) if trade.is_copy else None
        if master is not None and master.broker == trade.broker:
            paired[(trade.broker, trade.account_id)].append((trade.return_pct, master.return_pct))
    return {key: (len(found), sum(f for f, _ in found) / len(found), sum(m for _, m in found) / len(found))
            for key, found in paired.items()}


def _where(*conditions: list[Any]) -> tuple[str, list[Any]]:
    """' WHERE a = ? AND b = ?' and its parameters, from [condition, value] pairs whose value is not None."""
    used = [(condition, value) for condition, value in conditions if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in used), [v for _, v in used]


class ReadModel:
    """Read-only views of one state store file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if not self.path.is_file():
            raise ReadModelError(f"{self.path}: no state store here")
        try:
            self._conn = connect(self.path, read_only=True)
            self._tables = table_names(self._conn)
        except sqlite3.Error as error:
            raise ReadModelError(f"{self.path}: cannot read the state store ({error})") from error
        if self._tables and "meta" not in self._tables:
            self._conn.close()
            raise ReadModelError(f"{self.path}: an SQLite database that is not a NIJA state store")
        self._trips_lock = threading.Lock()  # one reader at a time reads new trades (never under _lock)
        self._trade_book = _TradeBook()
        self._column_names: dict[str, set[str]] = {}
        self._memos: dict[str, tuple[tuple[Any, ...], Any]] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReadModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _has(self, table: str) -> bool:
        if table not in self._tables:
            with self._lock:
                self._tables = table_names(self._conn)  # the bot may have created it since we opened
        return table in self._tables

    def _columns(self, table: str) -> set[str]:
        if table not in self._column_names:
            with self._lock:
                self._column_names[table] = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
        return self._column_names[table]

    def change_token(self) -> int:
        """A number that changes whenever another connection commits: the dashboard's "anything new?"."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # ---- accounts --------------------------------------------------------------------------------
    def health(self) -> dict[tuple[str, str], HealthView]:
        if not self._has("health"):
            return {}
        result = {}
        known = {"broker", "account_id", "status", "cycles", "successes", "consecutive_errors", "last_error",
                 "last_cycle_at"}
        for row in self._rows("SELECT * FROM health"):
            values = dict(row)
            result[(values["broker"], values["account_id"])] = HealthView(
                status=str(values["status"]), cycles=int(values["cycles"]), successes=int(values["successes"]),
                consecutive_errors=int(values["consecutive_errors"]), last_error=str(values["last_error"]),
                last_cycle_at=values["last_cycle_at"],
                figures={k: v for k, v in values.items() if k not in known},
            )
        return result

    def accounts(self, now: float) -> list[AccountView]:
        """Every account the bot stored, masters first per brokerage; realised P&L today is since UTC midnight."""
        if not self._has("account_states"):
            return []
        health = self.health()
        self._all_trades()
        open_pnl = self.open_trip_pnl()
        with self._trips_lock:
            books = dict(self._trade_book.books)
        midnight = now - now % DAY_SECONDS
        views = []
        for row in self._rows("SELECT * FROM account_states ORDER BY broker, role <> 'master', account_id"):
            key = (row["broker"], row["account_id"])
            book = books.get(key) or _Book()
            views.append(AccountView(
                broker=row["broker"], account_id=row["account_id"], label=account_label(*key), role=row["role"],
                state=row["state"], reason=row["reason"], fix=row["fix"], equity=float(row["equity"]),
                cash=float(row["cash"]), open_positions=int(row["open_positions"]), updated_at=float(row["updated_at"]),
                health=health.get(key), trades=len(book.closed_at), realised_pnl=book.realised,
                realised_pnl_today=book.realised_since(midnight), fees=book.fees,
                open_trip_pnl=open_pnl.get(key, 0.0),
            ))
        return views

    def balances(self) -> list[tuple[str, str, float, float, float]]:
        """(broker, account, equity, cash, bot time of the reading) of every account: the equity curve's points."""
        if not self._has("account_states"):
            return []
        return [(r[0], r[1], float(r[2]), float(r[3]), float(r[4])) for r in self._rows(
            "SELECT broker, account_id, equity, cash, updated_at FROM account_states")]

    def latest_update(self) -> float | None:
        """The bot clock's time of the last account update (paper mode runs its own, faster clock)."""
        if not self._has("account_states"):
            return None
        row = self._rows("SELECT MAX(updated_at) FROM account_states")[0]
        return None if row[0] is None else float(row[0])

    # ---- positions -------------------------------------------------------------------------------
    def positions(self, broker: str | None = None, account_id: str | None = None) -> list[PositionView]:
        if not self._has("positions"):
            return []
        where, params = _where(["broker = ?", broker], ["account_id = ?", account_id])
        rows = self._rows(f"SELECT * FROM positions{where} ORDER BY broker, account_id, opened_at", params)
        views = []
        for r in rows:
            quantity, entry = _number(r["quantity"]), float(r["entry_price"])
            columns = r.keys()  # a schema-1 store has no cost column (sqlite3.Row's `in` looks at values)
            cost = _number(r["cost_quote"]) if "cost_quote" in columns else 0.0
            views.append(PositionView(
                broker=r["broker"], account_id=r["account_id"], symbol=r["symbol"], quantity=quantity,
                entry_price=entry, stop_price=float(r["stop_price"]), opened_at=float(r["opened_at"]),
                is_copy=bool(r["is_copy"]), source_signal_id=r["source_signal_id"],
                cost=cost if cost > 0 else quantity * entry,
            ))
        return views

    # ---- trades ----------------------------------------------------------------------------------
    def trades(
        self, broker: str | None = None, account_id: str | None = None, since: float | None = None
    ) -> list[TradeView]:
        """Closed round trips, oldest first, optionally of one account and closed at or after ``since``."""
        found = self._all_trades()
        return [t for t in found if (broker is None or t.broker == broker)
                and (account_id is None or t.account_id == account_id)
                and (since is None or t.closed_at >= since)]

    def open_trip_pnl(self) -> dict[tuple[str, str], float]:
        """(broker, account) -> what the partial exits of its open positions have realised (average cost, fees
        included); the part still held is valued by the caller (at cost without a price)."""
        if not self._has("positions") or "trade_id" not in self._columns("positions"):
            return {}
        found: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for broker, account_id, realised in self._rows(  # driven by the few open positions (fills_by_trade)
            "SELECT f.broker, f.account_id, f.realised_pnl FROM fills f WHERE f.trade_id IN "
            "(SELECT trade_id FROM positions WHERE trade_id <> '') AND f.realised_pnl IS NOT NULL"
        ):
            found[(broker, account_id)] += Decimal(str(realised))
        return {key: float(value) for key, value in found.items()}

    def _all_trades(self) -> list[TradeView]:
        """Every closed round trip, oldest booked first; only rows booked since the last read are read.

        The ledger only ever adds a trades row, so the newest rowid (one B-tree step) tells whether anything
        is new: a store with years of trades costs its history once, not at every page view.
        """
        if not self._has("trades"):
            return []
        newest = int(self._rows("SELECT COALESCE(MAX(rowid), 0) FROM trades")[0][0])
        with self._trips_lock:
            book = self._trade_book
            if newest != book.last_rowid:
                rows = self._rows("SELECT * FROM trades WHERE rowid > ? ORDER BY rowid", [book.last_rowid])
                emitted = self._signals_emitted(rows)
                for row in rows:
                    book.add(_trade_view(row, emitted.get(row["trade_id"])))
                book.last_rowid = newest
            return book.trades

    def _signals_emitted(self, rows: Sequence[sqlite3.Row]) -> dict[str, str]:
        """trade id -> the signal its master's opening buy emitted, for these trades rows. Booking keys a master's
        trip by that buy's client order id, from which the signal id derives (bot.execution.ids.signal_id_for); only
        a master with followers emits one, so the derived ids are looked up by primary key, a few hundred a query."""
        derived = {row["trade_id"]: signal_id_for(row["broker"], row["trade_id"]) for row in rows if not row["is_copy"]}
        if not derived or not self._has("signals"):
            return {}
        wanted = list(derived.values())
        found: set[str] = set()
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start:start + _IDS_PER_QUERY]
            found.update(str(row[0]) for row in self._rows(
                f"SELECT signal_id FROM signals WHERE signal_id IN ({', '.join('?' for _ in chunk)})", chunk))
        return {trade_id: signal_id for trade_id, signal_id in derived.items() if signal_id in found}

    # ---- signals and copies ----------------------------------------------------------------------
    def signals(
        self, broker: str | None = None, *, limit: int = 50, before: float | None = None,
        signal_ids: Iterable[str] | None = None,
    ) -> list[SignalView]:
        """The newest master fills first, each with every follower's copy."""
        if not self._has("signals"):
            return []
        wanted = None if signal_ids is None else list(signal_ids)
        if wanted == []:
            return []
        where, params = _where(["broker = ?", broker], ["time < ?", before])
        if wanted is not None:
            where += (" AND " if where else " WHERE ") + f"signal_id IN ({', '.join('?' for _ in wanted)})"
            params.extend(wanted)
        rows = self._rows(f"SELECT * FROM signals{where} ORDER BY time DESC, signal_id LIMIT ?", [*params, limit])
        copies = self._copies([r["signal_id"] for r in rows])
        return [self._signal_view(r, copies.get(r["signal_id"], [])) for r in rows]

    def _signal_view(self, row: sqlite3.Row, copies: list[sqlite3.Row]) -> SignalView:
        time = float(row["time"])
        views = []
        for c in copies:
            columns = c.keys()
            filled_at = c["fill_time"]
            views.append(CopyView(
                follower_id=c["follower_id"], status=c["status"], reason=c["reason"],
                requested_base=None if c["requested_base"] is None else _number(c["requested_base"]),
                requested_quote=None if c["requested_quote"] is None else _number(c["requested_quote"]),
                filled_base=_number(c["order_filled_base"]), avg_price=_number(c["order_avg_price"]),
                fee_quote=_number(c["order_fee_quote"]), filled_at=filled_at,
                latency_seconds=None if filled_at is None else max(filled_at - time, 0.0),
                updated_at=float(c["updated_at"]), attempts=int(c["attempts"]) if "attempts" in columns else 0,
            ))
        return SignalView(
            signal_id=row["signal_id"], broker=row["broker"], symbol=row["symbol"], side=row["side"],
            fill_price=float(row["fill_price"]), filled_base=float(row["filled_base"]),
            quote_notional=float(row["quote_notional"]), master_equity=float(row["master_equity"]), time=time,
            fraction_sold=None if row["fraction_sold"] is None else _number(row["fraction_sold"]),
            status=row["status"], completed_at=row["completed_at"],
            copies=tuple(sorted(views, key=lambda v: v.follower_id)),
        )

    def _copies(self, signal_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        if not signal_ids or not self._has("copy_events"):
            return {}
        marks = ", ".join("?" for _ in signal_ids)
        rows = self._rows(
            "SELECT c.*, f.time AS fill_time, o.filled_base AS order_filled_base, o.avg_price AS order_avg_price, "
            "o.fee_quote AS order_fee_quote FROM copy_events c LEFT JOIN orders o ON o.client_order_id = "
            f"c.client_order_id LEFT JOIN fills f ON {_COPY_FILL} WHERE c.signal_id IN ({marks})", signal_ids)
        grouped: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in rows:
            grouped[row["signal_id"]].append(row)
        return grouped

    def signals_completed_after(self, after: tuple[float, str] | None, limit: int = 200) -> list[SignalView]:
        """Finished fan-outs in completion order, after the (completed_at, signal_id) cursor (notifications)."""
        if not self._has("signals"):
            return []
        if after is None:
            rows = self._rows("SELECT * FROM signals WHERE completed_at IS NOT NULL "
                              "ORDER BY completed_at, signal_id LIMIT ?", [limit])
        else:
            rows = self._rows(
                "SELECT * FROM signals WHERE completed_at IS NOT NULL AND (completed_at > ? OR "
                "(completed_at = ? AND signal_id > ?)) ORDER BY completed_at, signal_id LIMIT ?",
                [after[0], after[0], after[1], limit],
            )
        copies = self._copies([r["signal_id"] for r in rows])
        return [self._signal_view(r, copies.get(r["signal_id"], [])) for r in rows]

    def last_completed_signal(self) -> tuple[float, str] | None:
        if not self._has("signals"):
            return None
        rows = self._rows("SELECT completed_at, signal_id FROM signals WHERE completed_at IS NOT NULL "
                          "ORDER BY completed_at DESC, signal_id DESC LIMIT 1")
        return (float(rows[0][0]), str(rows[0][1])) if rows else None

    def failed_copies_after(
        self, after: tuple[float, str, str] | None, limit: int = 200
    ) -> list[tuple[SignalView, CopyView]]:
        """Copies that failed, in the order they were recorded, after the (time, signal, follower) cursor."""
        if not self._has("copy_events"):
            return []
        base = "SELECT signal_id, follower_id, updated_at FROM copy_events WHERE status = 'failed'"
        if after is None:
            rows = self._rows(base + " ORDER BY updated_at, signal_id, follower_id LIMIT ?", [limit])
        else:
            rows = self._rows(
                base + " AND (updated_at > ? OR (updated_at = ? AND (signal_id > ? OR (signal_id = ? AND "
                "follower_id > ?)))) ORDER BY updated_at, signal_id, follower_id LIMIT ?",
                [after[0], after[0], after[1], after[1], after[2], limit],
            )
        signals = {s.signal_id: s for s in self.signals(limit=len(rows) or 1, signal_ids={r[0] for r in rows})}
        found = []
        for signal_id, follower_id, _ in rows:
            signal = signals.get(signal_id)
            copy = next((c for c in signal.copies if c.follower_id == follower_id), None) if signal else None
            if signal is not None and copy is not None:
                found.append((signal, copy))
        return found

    def last_failed_copy(self) -> tuple[float, str, str] | None:
        if not self._has("copy_events"):
            return None
        rows = self._rows("SELECT updated_at, signal_id, follower_id FROM copy_events WHERE status = 'failed' "
                          "ORDER BY updated_at DESC, signal_id DESC, follower_id DESC LIMIT 1")
        return (float(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    # ---- copy trading: tracking ------------------------------------------------------------------
    def _copies_key(self) -> tuple[Any, ...]:
        """Changes when a copy is added or booked: a new copy row, a new fill, a fan-out finished. Reads three
        indexes' ends and the small signals table, where the copies themselves would be a scan of every copy."""
        return tuple(self._rows(
            "SELECT (SELECT MAX(rowid) FROM copy_events), (SELECT MAX(rowid) FROM fills), "
            "(SELECT MAX(completed_at) FROM signals), (SELECT COUNT(*) FROM signals)")[0])

    def _memo(self, name: str, compute: Callable[[], R]) -> R:
        """``compute()``, again only when the copies changed (the copy page and /metrics ask every few seconds)."""
        key = self._copies_key()
        with self._lock:
            found = self._memos.get(name)
        if found is not None and found[0] == key:
            return found[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._memos[name] = (key, value)
        return value

    def tracking(self, broker: str | None = None) -> list[TrackingView]:
        """Each follower beside its master: copy outcomes, latency, and the return of the same round trips."""
        if not self._has("copy_events"):
            return []
        return self._memo(f"tracking:{broker}", lambda: self._tracking(broker))

    def _tracking(self, broker: str | None) -> list[TrackingView]:
        pairs = _paired_returns(self._all_trades())
        where, params = _where(["c.broker = ?", broker])
        rows = self._rows(
            "SELECT c.broker, c.follower_id, SUM(CASE WHEN c.status = 'filled' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.status = 'skipped' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.status = 'failed' THEN 1 ELSE 0 END), "
            f"AVG({_LATENCY}) FROM copy_events c JOIN signals s ON s.signal_id = c.signal_id "
            f"LEFT JOIN fills f ON {_COPY_FILL}{where} "
            "GROUP BY c.broker, c.follower_id ORDER BY c.broker, c.follower_id",
            params,
        )
        views = []
        for copy_broker, follower_id, filled, skipped, failed, latency in rows:
            matched, follower, master = pairs.get((copy_broker, follower_id), (0, None, None))
            views.append(TrackingView(
                broker=copy_broker, follower_id=follower_id, copies_filled=int(filled), copies_skipped=int(skipped),
                copies_failed=int(failed), matched_trades=matched, follower_return_pct=follower,
                master_return_pct=master,
                tracking_difference_pct=None if follower is None or master is None else follower - master,
                mean_latency_seconds=None if latency is None else float(latency),
            ))
        return views

    def followers(self) -> set[tuple[str, str]]:
        """(broker, account) of every account that has copied (or been asked to copy) a master fill."""
        if not self._has("copy_events"):
            return set()
        return self._memo("followers", lambda: {(r[0], r[1]) for r in self._rows(
            "SELECT DISTINCT broker, follower_id FROM copy_events")})

    def copy_latency_histogram(self, bounds: Sequence[float]) -> dict[str, tuple[int, float, list[int]]]:
        """Per brokerage: (filled copies, sum of their latencies, how many took at most each bound) (metrics)."""
        if not self._has("copy_events"):
            return {}
        return self._memo(f"latency:{tuple(bounds)}", lambda: self._latency_histogram(bounds))

    def _latency_histogram(self, bounds: Sequence[float]) -> dict[str, tuple[int, float, list[int]]]:
        buckets = ", ".join(f"SUM(CASE WHEN {_LATENCY} <= {float(b)!r} THEN 1 ELSE 0 END)" for b in bounds)
        rows = self._rows(
            f"SELECT c.broker, COUNT(*), TOTAL({_LATENCY}), {buckets} FROM copy_events c "
            f"JOIN signals s ON s.signal_id = c.signal_id JOIN fills f ON {_COPY_FILL} "
            "WHERE c.status = 'filled' GROUP BY c.broker"
        )
        return {r[0]: (int(r[1]), float(r[2]), [int(v or 0) for v in r[3:]]) for r in rows}

    # ---- counts (metrics) ------------------------------------------------------------------------
    def order_counts(self) -> list[OrderCount]:
        if not self._has("orders"):
            return []
        return [OrderCount(*r) for r in self._rows(
            "SELECT broker, account_id, purpose, status, COUNT(*) FROM orders GROUP BY broker, account_id, purpose, "
            "status")]

    def fill_counts(self) -> list[FillCount]:
        if not self._has("fills"):
            return []
        return [FillCount(*r) for r in self._rows(
            "SELECT broker, account_id, side, COUNT(*) FROM fills GROUP BY broker, account_id, side")]

    def signal_summary(self, signal_id: str) -> dict[str, Any] | None:
        """The copy engine's stored summary of a finished fan-out (its JSON), if any."""
        if not self._has("signals"):
            return None
        rows = self._rows("SELECT summary FROM signals WHERE signal_id = ?", [signal_id])
        return json.loads(rows[0][0]) if rows and rows[0][0] else None


@dataclass
class _TradeBook:
    """The trades read so far, in booking order, and each account's running P&L."""

    last_rowid: int = 0
    trades: list[TradeView] = field(default_factory=list)
    books: dict[tuple[str, str], _Book] = field(default_factory=lambda: defaultdict(_Book))

    def add(self, trade: TradeView) -> None:
        self.trades.append(trade)
        self.books[(trade.broker, trade.account_id)].add(trade)


def _number(value: Any) -> float:
    """A stored amount (the ledger's decimal string, or a schema-1 REAL) as a float for views."""
    return float(value) if value is not None else 0.0


def _trade_view(row: sqlite3.Row, master_signal: str | None) -> TradeView:
    """One ledger trades row; `master_signal`: the signal a master's trip emitted at its entry. A copy's row carries
    the signal it copied (so a follower's trip pairs with its master's)."""
    quantity, entry = _number(row["quantity"]), _number(row["avg_entry"])
    pnl = _number(row["realised_pnl"])
    cost = quantity * entry
    is_copy = bool(row["is_copy"])
    return TradeView(
        broker=row["broker"], account_id=row["account_id"], symbol=row["symbol"], opened_at=float(row["opened_at"]),
        closed_at=float(row["closed_at"]), quantity=quantity, entry_price=entry, exit_price=_number(row["avg_exit"]),
        fees=_number(row["fees_quote"]), realised_pnl=pnl, return_pct=100.0 * pnl / cost if cost > 0 else 0.0,
        exit_reasons=tuple(dict.fromkeys(r.strip().replace("_", " ") for r in str(row["exit_reasons"] or "").split(",")
                                         if r.strip())), is_copy=is_copy,
        entry_signal_id=row["source_signal_id"] if is_copy else master_signal,
        trade_id=row["trade_id"],
    )
