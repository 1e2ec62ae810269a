"""The simulator's exchange state in one SQLite file, written through, so the exchange outlives its process.

A standalone simulator (``python -m bot.sim --state FILE``) is the exchange the bot's crash tests kill
the bot against: it must keep every account, key, balance, order and trade exactly as the bot left
them, and survive being killed itself. Paper mode uses the same file to keep its results.

How the file is kept true:
- The matching core marks what a call changed (accounts' balances and holds, orders, trades, ids
  issued) and commits it in **one transaction when its lock is released**, before the face writes
  any answer: an answer a client saw is always in the file, and a kill mid-call leaves the file at
  the state before the call (the client saw no answer either).
- Faces save what is theirs (credentials as issued, Kraken's last nonce per key on every private
  call, Kraken userrefs) the moment it changes.
- WAL journal with ``synchronous=NORMAL``: a committed transaction survives the process being killed
  (it is in the OS's page cache); only a power cut may lose the last ones, never consistency.

What is not kept, by design: Kraken's rate counters (they drain in seconds), fault plans (given again
on the command line) and caches. Derived indexes (by client id, resting orders) are rebuilt from the
orders on load. The file holds API secrets (the simulator's own, as its credentials file does): it is
created 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from bot.config.accounts import Credentials

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x4E494A53  # "NIJS": marks a simulator state file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (account_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS balances (
    account_id TEXT NOT NULL, asset TEXT NOT NULL, total REAL NOT NULL, hold REAL NOT NULL,
    PRIMARY KEY (account_id, asset)
);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
    client_order_id TEXT, status TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_client_id ON orders (account_id, client_order_id);
CREATE TABLE IF NOT EXISTS trades (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
    order_id TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    face TEXT NOT NULL, api_key TEXT NOT NULL, account_id TEXT NOT NULL, api_secret TEXT NOT NULL,
    source TEXT NOT NULL, paper INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (face, api_key)
);
CREATE TABLE IF NOT EXISTS nonces (api_key TEXT PRIMARY KEY, last_nonce TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS face_data (
    face TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (face, key)
);
"""

T = TypeVar("T")


class SimStateError(Exception):
    """The state file cannot be used (not a simulator state file, newer schema, unreadable)."""


# ---- values to and from JSON --------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"decimal"}:
        return Decimal(value["decimal"])
    return value


def encode_record(record: Any) -> str:
    """A frozen dataclass (SimOrder, SimTrade, ...) as JSON; floats keep every bit (repr round-trips)."""
    return json.dumps({f.name: _encode_value(getattr(record, f.name)) for f in fields(record)},
                      separators=(",", ":"))


def decode_record(cls: type[T], text: str) -> T:
    """The dataclass back; fields the file lacks take their defaults (a file from before a field existed)."""
    data = json.loads(text)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: _decode_value(value) for name, value in data.items() if name in known})


# ---- what a load returns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedCredentials:
    face: str
    account_id: str
    credentials: Credentials


@dataclass
class ExchangeChanges:
    """What one locked call of the matching core changed; committed together."""

    accounts: set[str] = field(default_factory=set)  # balances or holds changed (or the account is new)
    orders: dict[str, Any] = field(default_factory=dict)  # order id -> the order's latest version
    trades: list[Any] = field(default_factory=list)
    ids_issued: int | None = None
    clock_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.accounts or self.orders or self.trades)


@dataclass(frozen=True)
class ExchangeSnapshot:
    """The matching core's saved state, in the order things happened."""

    balances: dict[str, dict[str, tuple[float, float]]]  # account -> asset -> (total, hold)
    orders: list[str]  # encoded orders, oldest first
    trades: list[str]  # encoded trades, oldest first
    ids_issued: int


@dataclass(frozen=True)
class MarketParams:
    """What the price source was made from: a reload must trade the very same market."""

    seed: int
    markets: int
    start_time: float  # the synthetic market's anchor, or the replay's alignment
    data_dir: str | None = None
    stocks: tuple[str, ...] = ()  # symbols of catalog.STOCKS added for the Alpaca face
    bar_seconds: int = 300  # the candle length the synthetic market's set-ups are drawn for (paper mode's)


@dataclass(frozen=True)
class ClockAnchor:
    """Simulated time = sim_origin + (wall time - wall_origin) x speed; last_sim_time: the last commit's."""

    sim_origin: float
    wall_origin: float
    speed: float
    last_sim_time: float | None = None

    def sim_time_now(self, mode: Literal["wall", "paused"], wall_now: float) -> float:
        """Where a reloaded simulator's clock starts: as if it had kept running ("wall"), or where it stopped."""
        if mode == "paused" and self.last_sim_time is not None:
            return self.last_sim_time
        return self.sim_origin + (wall_now - self.wall_origin) * self.speed


class SimStateFile:
    """One SQLite connection (shared by the server's threads behind a lock) to a simulator state file."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """read_only: a reader beside the running simulator (an audit); it never writes, nor creates the file."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.clock_now: Callable[[], float] | None = None  # the exchange's clock, recorded on close (writers only)
        try:
            if read_only:
                if not self.path.is_file():
                    raise SimStateError(f"{self.path}: no simulator state file there")
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                           isolation_level=None)
                if self._db.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
                    raise SimStateError(f"{self.path}: not a simulator state file")
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # 0600 from the first byte: the file holds API secrets
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._check_or_create()
        except sqlite3.DatabaseError as error:
            raise SimStateError(f"{self.path}: not a simulator state file ({error})") from None

    def _check_or_create(self) -> None:
        db = self._db
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if application_id != _APPLICATION_ID and tables:
            raise SimStateError(f"{self.path}: not a simulator state file (another SQLite database or file)")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SimStateError(
                f"{self.path}: written by a newer simulator (schema {version}, this one reads up to {SCHEMA_VERSION})"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if application_id != _APPLICATION_ID:
            with self._transaction():
                db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                for statement in _statements(_SCHEMA):  # executescript would commit: one transaction instead
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close; a writer first records where the simulated clock stands (a "paused" resume continues there,
        not at the last change, which may be long before: reads change nothing)."""
        with self._lock:
            if self.clock_now is not None:
                with self._transaction() as db:
                    self._set_meta(db, "last_sim_time", self.clock_now())
            self._db.close()

    @property
    def is_empty(self) -> bool:
        """True for a new file: nothing was ever saved in it."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0

    # ---- meta: market, clock ---------------------------------------------------------------------
    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def _set_meta(self, db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def market_params(self) -> MarketParams | None:
        with self._lock:
            found = self._meta("market")
        if found is None:
            return None
        return MarketParams(**{**found, "stocks": tuple(found.get("stocks", ()))})

    def save_market_params(self, params: MarketParams) -> None:
        with self._transaction() as db:
            self._set_meta(db, "market", {f.name: getattr(params, f.name) for f in fields(params)})

    def clock_anchor(self) -> ClockAnchor | None:
        with self._lock:
            anchor, last = self._meta("clock"), self._meta("last_sim_time")
        return ClockAnchor(**anchor, last_sim_time=last) if anchor else None

    def last_sim_time(self) -> float | None:
        """The simulated time of the last change or of the last clean close, whichever came later."""
        with self._lock:
            value = self._meta("last_sim_time")
        return None if value is None else float(value)

    def save_clock_anchor(self, sim_origin: float, speed: float, wall_origin: float | None = None) -> None:
        with self._transaction() as db:
            self._set_meta(db, "clock", {"sim_origin": sim_origin, "speed": speed,
                                         "wall_origin": time.time() if wall_origin is None else wall_origin})

    # ---- the matching core ------------------------------------------------------------------------
    def commit_exchange(self, changes: ExchangeChanges, balances: Mapping[str, Mapping[str, tuple[float, float]]],
                        encode_order: Any = encode_record) -> None:
        """Write one call's changes in one transaction; `balances` holds the changed accounts' wallets."""
        with self._transaction() as db:
            for account_id in changes.accounts:
                db.execute("INSERT INTO accounts (account_id) VALUES (?) ON CONFLICT (account_id) DO NOTHING",
                           (account_id,))
                db.execute("DELETE FROM balances WHERE account_id = ?", (account_id,))
                db.executemany(
                    "INSERT INTO balances (account_id, asset, total, hold) VALUES (?, ?, ?, ?)",
                    [(account_id, asset, total, hold) for asset, (total, hold) in balances[account_id].items()],
                )
            for order in changes.orders.values():
                db.execute(
                    "INSERT INTO orders (order_id, account_id, client_order_id, status, data) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, data = excluded.data",
                    (order.order_id, order.account_id, order.client_order_id, order.status, encode_order(order)),
                )
            db.executemany(
                "INSERT INTO trades (trade_id, account_id, order_id, data) VALUES (?, ?, ?, ?)",
                [(t.trade_id, t.account_id, t.order_id, encode_record(t)) for t in changes.trades],
            )
            if changes.ids_issued is not None:
                self._set_meta(db, "ids_issued", changes.ids_issued)
            if changes.clock_at is not None:
                self._set_meta(db, "last_sim_time", changes.clock_at)

    def exchange_snapshot(self) -> ExchangeSnapshot:
        with self._lock:
            db = self._db
            balances: dict[str, dict[str, tuple[float, float]]] = {
                account_id: {} for (account_id,) in db.execute("SELECT account_id FROM accounts ORDER BY rowid")
            }
            for account_id, asset, total, hold in db.execute(
                "SELECT account_id, asset, total, hold FROM balances ORDER BY rowid"
            ):
                balances.setdefault(account_id, {})[asset] = (total, hold)
            orders = [row[0] for row in db.execute("SELECT data FROM orders ORDER BY seq")]
            trades = [row[0] for row in db.execute("SELECT data FROM trades ORDER BY seq")]
            ids_issued = int(self._meta("ids_issued") or 0)
        return ExchangeSnapshot(balances, orders, trades, ids_issued)

    # ---- faces ----------------------------------------------------------------------------------------
    def save_credentials(self, face: str, account_id: str, credentials: Credentials) -> None:
        with self._transaction() as db:
            seq = db.execute("SELECT count(*) FROM credentials").fetchone()[0]
            db.execute(
                "INSERT INTO credentials (face, api_key, account_id, api_secret, source, paper, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (face, credentials.api_key, account_id, credentials.api_secret, credentials.source,
                 int(credentials.paper), seq),
            )

    def credentials(self, face: str) -> list[SavedCredentials]:
        """Every key issued on `face`, in the order issued."""
        with self._lock:
            rows = self._db.execute(
                "SELECT account_id, api_key, api_secret, source, paper FROM credentials WHERE face = ? ORDER BY seq",
                (face,),
            ).fetchall()
        return [SavedCredentials(face, a, Credentials(api_key=k, api_secret=s, source=src, paper=bool(p)))
                for a, k, s, src, p in rows]

    def save_nonce(self, api_key: str, nonce: int) -> None:
        """A Kraken key's last accepted nonce (TEXT: nonces reach 2**64, past SQLite's integers)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO nonces (api_key, last_nonce) VALUES (?, ?) "
                "ON CONFLICT (api_key) DO UPDATE SET last_nonce = excluded.last_nonce",
                (api_key, str(nonce)),
            )

    def nonces(self) -> dict[str, int]:
        with self._lock:
            return {key: int(value) for key, value in self._db.execute("SELECT api_key, last_nonce FROM nonces")}

    def save_face_data(self, face: str, items: Iterable[tuple[str, str]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO face_data (face, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (face, key) DO UPDATE SET value = excluded.value",
                [(face, key, value) for key, value in items],
            )

    def face_data(self, face: str) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM face_data WHERE face = ?", (face,)).fetchall())


def endpoints_path(state: Path) -> Path:
    """Where a standalone simulator with this state file writes its URLs, client settings and pid."""
    return state.with_name(state.name + ".endpoints.json")


def credentials_path(state: Path) -> Path:
    """Where a standalone simulator with this state file writes the credentials it issued (0600)."""
    return state.with_name(state.name + ".credentials.json")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
