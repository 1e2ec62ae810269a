"""Every read the operator's windows make of the trading tables: the dashboard, the REST API, /metrics,
notifications, `status` and `trades` (issue 12).

The trading tables belong to the execution ledger and their schema changes with it; this module is the
one place that knows their columns, so adapting to a new schema is a change here and nowhere else.
It reads on its own read-only connection: a page view never holds the trading store's lock, and WAL
lets it read while the bot writes.

Trades (closed round trips) are read from the ledger's ``trades`` table when the store has one; a store
without it (schema 1) has them derived from its fills by average cost, which is what the ledger books.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_BUSY_TIMEOUT_SECONDS = 10.0
_FLAT = 1e-9  # a position whose quantity falls under this share of what was bought is closed
#: each order's first fill time, read in one pass (joined per copy, it would scan the fills once per copy)
_FILL_TIMES = "(SELECT client_order_id, MIN(time) AS t FROM fills GROUP BY client_order_id)"
DAY_SECONDS = 86_400.0


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
    """One account's closed trades summed once per change of the fills: totals, and running P&L by close time."""

    closed_at: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)  # realised P&L up to and including each close
    realised: float = 0.0
    fees: float = 0.0

    def add(self, trade: TradeView) -> None:
        self.realised += trade.realised_pnl
        self.fees += trade.fees
        self.closed_at.append(trade.closed_at)
        self.running.append(self.realised)

    def realised_since(self, moment: float) -> float:
        before = bisect.bisect_left(self.closed_at, moment)
        return self.realised - (self.running[before - 1] if before else 0.0)


def _label(broker: str, account_id: str) -> str:
    return f"{broker}:{account_id}"


class ReadModel:
    """Read-only views of one state store file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if not self.path.is_file():
            raise ReadModelError(f"{self.path}: no state store here")
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_SECONDS, check_same_thread=False,
                                         isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._tables = self._table_names()
        except sqlite3.Error as error:
            raise ReadModelError(f"{self.path}: cannot read the state store ({error})") from error
        if self._tables and "meta" not in self._tables:
            self._conn.close()
            raise ReadModelError(f"{self.path}: an SQLite database that is not a NIJA state store")
        self._trades_key: int | None = None
        self._trades_cache: list[TradeView] = []
        self._open_cache: dict[tuple[str, str], float] = {}
        self._books: dict[tuple[str, str], _Book] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReadModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------------------
    def _table_names(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _has(self, table: str) -> bool:
        if table not in self._tables:
            with self._lock:
                self._tables = self._table_names()  # the bot may have created it since we opened
        return table in self._tables

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
        with self._lock:
            books, open_pnl = self._books, self._open_cache
        midnight = now - now % DAY_SECONDS
        views = []
        for row in self._rows("SELECT * FROM account_states ORDER BY broker, role <> 'master', account_id"):
            key = (row["broker"], row["account_id"])
            book = books.get(key) or _Book()
            views.append(AccountView(
                broker=row["broker"], account_id=row["account_id"], label=_label(*key), role=row["role"],
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
        sql, params = "SELECT * FROM positions", []
        conditions = []
        if broker is not None:
            conditions.append("broker = ?")
            params.append(broker)
        if account_id is not None:
            conditions.append("account_id = ?")
            params.append(account_id)
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        rows = self._rows(sql + " ORDER BY broker, account_id, opened_at", params)
        return [PositionView(
            broker=r["broker"], account_id=r["account_id"], symbol=r["symbol"], quantity=float(r["quantity"]),
            entry_price=float(r["entry_price"]), stop_price=float(r["stop_price"]), opened_at=float(r["opened_at"]),
            is_copy=bool(r["is_copy"]), source_signal_id=r["source_signal_id"],
        ) for r in rows]

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
        """(broker, account) -> what its still-open trips have realised on partial exits, minus every fee paid."""
        self._all_trades()
        with self._lock:
            return dict(self._open_cache)

    def _all_trades(self) -> list[TradeView]:
        if not self._has("fills"):
            return []
        # Fills are only ever added: the newest rowid tells whether the trades must be worked out again
        # (MAX(rowid) is one B-tree step; COUNT(*) would read the whole table on every page view).
        key = int(self._rows("SELECT COALESCE(MAX(rowid), 0) FROM fills")[0][0])
        with self._lock:
            if key == self._trades_key:
                return self._trades_cache
        trades, open_pnl = _round_trips(self._rows("SELECT * FROM fills ORDER BY time, rowid"), self._order_details(),
                                        self._master_signals())
        books: dict[tuple[str, str], _Book] = defaultdict(_Book)
        for trade in sorted(trades, key=lambda t: t.closed_at):
            books[(trade.broker, trade.account_id)].add(trade)
        with self._lock:
            self._trades_key, self._trades_cache, self._open_cache = key, trades, open_pnl
            self._books = dict(books)
        return trades

    def _order_details(self) -> dict[str, tuple[str, str | None, str]]:
        """client order id -> (purpose, signal id, reason) of every order."""
        if not self._has("orders"):
            return {}
        return {r[0]: (r[1], r[2], r[3]) for r in self._rows(
            "SELECT client_order_id, purpose, signal_id, reason FROM orders")}

    def _master_signals(self) -> dict[str, str]:
        if not self._has("signals"):
            return {}
        return {r[0]: r[1] for r in self._rows("SELECT master_client_order_id, signal_id FROM signals")}

    # ---- signals and copies ----------------------------------------------------------------------
    def signals(
        self, broker: str | None = None, *, limit: int = 50, before: float | None = None,
        signal_ids: Iterable[str] | None = None,
    ) -> list[SignalView]:
        """The newest master fills first, each with every follower's copy."""
        if not self._has("signals"):
            return []
        conditions, params = [], []
        if broker is not None:
            conditions.append("broker = ?")
            params.append(broker)
        if before is not None:
            conditions.append("time < ?")
            params.append(before)
        if signal_ids is not None:
            wanted = list(signal_ids)
            if not wanted:
                return []
            conditions.append(f"signal_id IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        rows = self._rows(f"SELECT * FROM signals{where} ORDER BY time DESC, signal_id LIMIT ?", [*params, limit])
        copies = self._copies([r["signal_id"] for r in rows])
        return [self._signal_view(r, copies.get(r["signal_id"], [])) for r in rows]

    def _signal_view(self, row: sqlite3.Row, copies: list[sqlite3.Row]) -> SignalView:
        time = float(row["time"])
        views = []
        for c in copies:
            filled_at = c["fill_time"]
            views.append(CopyView(
                follower_id=c["follower_id"], status=c["status"], reason=c["reason"],
                requested_base=c["requested_base"], requested_quote=c["requested_quote"],
                filled_base=float(c["filled_base"]), avg_price=float(c["avg_price"]), fee_quote=float(c["fee_quote"]),
                filled_at=filled_at, latency_seconds=None if filled_at is None else max(filled_at - time, 0.0),
                updated_at=float(c["updated_at"]),
            ))
        return SignalView(
            signal_id=row["signal_id"], broker=row["broker"], symbol=row["symbol"], side=row["side"],
            fill_price=float(row["fill_price"]), filled_base=float(row["filled_base"]),
            quote_notional=float(row["quote_notional"]), master_equity=float(row["master_equity"]), time=time,
            fraction_sold=row["fraction_sold"], status=row["status"], completed_at=row["completed_at"],
            copies=tuple(sorted(views, key=lambda v: v.follower_id)),
        )

    def _copies(self, signal_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        if not signal_ids or not self._has("copy_events"):
            return {}
        marks = ", ".join("?" for _ in signal_ids)
        rows = self._rows(f"SELECT c.*, f.t AS fill_time FROM copy_events c LEFT JOIN {_FILL_TIMES} f "
                          f"ON f.client_order_id = c.client_order_id WHERE c.signal_id IN ({marks})", signal_ids)
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
    def tracking(self, broker: str | None = None) -> list[TrackingView]:
        """Each follower beside its master: copy outcomes, latency, and the return of the same round trips."""
        if not self._has("copy_events"):
            return []
        where, params = ("WHERE c.broker = ?", [broker]) if broker is not None else ("", [])
        rows = self._rows(
            f"SELECT c.broker, c.follower_id, c.status, f.t - s.time AS latency FROM copy_events c "
            f"JOIN signals s ON s.signal_id = c.signal_id LEFT JOIN {_FILL_TIMES} f "
            f"ON f.client_order_id = c.client_order_id {where}", params,
        )
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        for row in rows:
            key = (row["broker"], row["follower_id"])
            counts[key][row["status"]] += 1
            if row["latency"] is not None:
                latencies[key].append(max(float(row["latency"]), 0.0))
        trades = self.trades(broker)
        master_by_signal = {t.entry_signal_id: t for t in trades
                            if t.account_id == "master" and t.entry_signal_id is not None}
        paired: dict[tuple[str, str], list[tuple[TradeView, TradeView]]] = defaultdict(list)
        for trade in trades:
            master = master_by_signal.get(trade.entry_signal_id) if trade.is_copy else None
            if master is not None and master.broker == trade.broker:
                paired[(trade.broker, trade.account_id)].append((trade, master))
        views = []
        for key in sorted(counts):
            pairs = paired.get(key, [])
            follower = sum(f.return_pct for f, _ in pairs) / len(pairs) if pairs else None
            master = sum(m.return_pct for _, m in pairs) / len(pairs) if pairs else None
            lat = latencies.get(key, [])
            views.append(TrackingView(
                broker=key[0], follower_id=key[1], copies_filled=counts[key].get("filled", 0),
                copies_skipped=counts[key].get("skipped", 0), copies_failed=counts[key].get("failed", 0),
                matched_trades=len(pairs), follower_return_pct=follower, master_return_pct=master,
                tracking_difference_pct=None if follower is None or master is None else follower - master,
                mean_latency_seconds=sum(lat) / len(lat) if lat else None,
            ))
        return views

    def followers(self) -> set[tuple[str, str]]:
        """(broker, account) of every account that has copied (or been asked to copy) a master fill."""
        if not self._has("copy_events"):
            return set()
        return {(r[0], r[1]) for r in self._rows("SELECT DISTINCT broker, follower_id FROM copy_events")}

    def copy_latencies(self) -> list[tuple[str, str, float]]:
        """(broker, follower, seconds from master fill to follower fill) of every filled copy (metrics)."""
        if not self._has("copy_events"):
            return []
        rows = self._rows(
            f"SELECT c.broker, c.follower_id, f.t - s.time FROM copy_events c JOIN signals s "
            f"ON s.signal_id = c.signal_id JOIN {_FILL_TIMES} f ON f.client_order_id = c.client_order_id "
            "WHERE c.status = 'filled'"
        )
        return [(r[0], r[1], max(float(r[2]), 0.0)) for r in rows]

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


def _round_trips(
    fills: Iterable[sqlite3.Row], orders: dict[str, tuple[str, str | None, str]], master_signals: dict[str, str]
) -> tuple[list[TradeView], dict[tuple[str, str], float]]:
    """Closed round trips from fills, by average cost: a trip opens on a buy from flat and closes back at flat.

    ``master_signals`` maps a master order's client order id to the signal its fill emitted, so a master's
    trip and its followers' copies of it share one entry signal id. Also returns, per account, what its
    still-open trips have realised so far (partial exits at average cost, minus every fee paid).
    """
    open_trips: dict[tuple[str, str, str], dict[str, Any]] = {}
    closed: list[TradeView] = []
    for fill in fills:
        key = (fill["broker"], fill["account_id"], fill["symbol"])
        quantity, price, fee = float(fill["base_qty"]), float(fill["price"]), float(fill["fee_quote"])
        purpose, signal_id, reason = orders.get(fill["client_order_id"], ("", None, ""))
        trip = open_trips.get(key)
        if fill["side"] == "buy":
            if trip is None:
                trip = open_trips[key] = {
                    "opened_at": float(fill["time"]), "held": 0.0, "bought": 0.0, "cost": 0.0, "sold": 0.0,
                    "proceeds": 0.0, "fees": 0.0, "reasons": [], "is_copy": purpose.startswith("copy"),
                    "signal": signal_id if purpose.startswith("copy") else None, "coid": fill["client_order_id"],
                }
            trip["held"] += quantity
            trip["bought"] += quantity
            trip["cost"] += quantity * price
            trip["fees"] += fee
            continue
        if trip is None or trip["held"] <= 0:
            continue  # a sale of coins bought before the store's history: no cost to measure it against
        sold = min(quantity, trip["held"])
        trip["held"] -= sold
        trip["sold"] += sold
        trip["proceeds"] += sold * price
        trip["fees"] += fee
        label = purpose.replace("_", " ") or "exit"
        trip["reasons"].append(f"{label}: {reason}" if reason else label)
        if trip["held"] <= trip["bought"] * _FLAT:
            del open_trips[key]
            entry = trip["cost"] / trip["bought"]
            cost_sold = entry * trip["sold"]
            pnl = trip["proceeds"] - cost_sold - trip["fees"]
            closed.append(TradeView(
                broker=key[0], account_id=key[1], symbol=key[2], opened_at=trip["opened_at"],
                closed_at=float(fill["time"]), quantity=trip["bought"], entry_price=entry,
                exit_price=trip["proceeds"] / trip["sold"], fees=trip["fees"], realised_pnl=pnl,
                return_pct=100.0 * pnl / cost_sold if cost_sold > 0 else 0.0,
                exit_reasons=tuple(dict.fromkeys(trip["reasons"])), is_copy=trip["is_copy"],
                entry_signal_id=trip["signal"] if trip["is_copy"] else master_signals.get(trip["coid"]),
            ))
    open_pnl: dict[tuple[str, str], float] = defaultdict(float)
    for (broker, account_id, _), trip in open_trips.items():
        entry = trip["cost"] / trip["bought"] if trip["bought"] > 0 else 0.0
        open_pnl[(broker, account_id)] += trip["proceeds"] - entry * trip["sold"] - trip["fees"]
    return closed, dict(open_pnl)
