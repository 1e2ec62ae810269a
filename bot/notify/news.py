"""What is worth telling the operator, read from the store (issue 12, "Notifications").

The reader tails what the bot already records (finished master-fill fan-outs, failed copies, account
states) from persisted cursors, so no trading code calls it and nothing is told twice or lost across a
restart: a notice's cursor is committed only after the sender has tried to deliver it, and a store seen
for the first time starts at its end (its history is not news).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.state.operator import OperatorStore
from bot.state.readmodel import AccountView, ReadModel

MASTER_FILL = "master_fill"
COPY_FAILED = "copy_failed"
STATE_CHANGE = "state_change"
DEADLOCK = "deadlock"
THREAD = "thread"
START = "start"
STOP = "stop"
DAILY = "daily_summary"

TITLES = {
    MASTER_FILL: "master fill", COPY_FAILED: "copy failed", STATE_CHANGE: "account state", DEADLOCK: "DEADLOCK",
    THREAD: "thread health", START: "started", STOP: "stopped", DAILY: "daily summary",
}
#: states in which an account is not doing what it should: told even when first seen
PROBLEM_STATES = frozenset({"AUTH_FAILED", "UNREACHABLE", "MASTER_OFFLINE", "BAD_CREDENTIALS", "STANDING_DOWN",
                            "UNFUNDED", "BELOW_MINIMUM"})
_STUCK_FOLLOWER_STATES = frozenset({"STANDING_DOWN", "MASTER_OFFLINE"})

CURSOR_SIGNALS = "notify.signals"
CURSOR_FAILED = "notify.failed_copies"
CURSOR_STATES = "notify.states"
CURSOR_DAILY = "notify.daily"


@dataclass(frozen=True)
class Notice:
    """One thing to tell, and the cursor to commit once it has been sent."""

    kind: str
    text: str
    cursor: tuple[str, Any] | None = None  # (cursor name, value) advanced by this notice
    urgent: bool = False  # failures and state changes: shown as warnings by services that have types


@dataclass
class _Position:
    signals: tuple[float, str] | None = None
    failed: tuple[float, str, str] | None = None
    states: dict[str, str] = field(default_factory=dict)
    deadlocks: dict[str, str] = field(default_factory=dict)
    daily: str | None = None


class NewsReader:
    """Turns new rows of the store into notices; one reader per running bot, called from one thread."""

    def __init__(self, read: ReadModel, operator: OperatorStore, *, daily_hour: int = -1,
                 wall: Callable[[], float] | None = None) -> None:
        self.read = read
        self.operator = operator
        self.daily_hour = daily_hour
        self.wall = wall or time.time
        self._at = self._load()

    def _load(self) -> _Position:
        """Where the last run stopped telling; a store seen for the first time starts at its end."""
        signals = self.operator.cursor(CURSOR_SIGNALS)
        failed = self.operator.cursor(CURSOR_FAILED)
        states = self.operator.cursor(CURSOR_STATES)
        daily = self.operator.cursor(CURSOR_DAILY)
        at = _Position()
        if signals is None:
            at.signals = self.read.last_completed_signal()
            self.operator.save_cursor(CURSOR_SIGNALS, {"at": at.signals})
        else:
            at.signals = tuple(signals["at"]) if signals["at"] else None  # type: ignore[assignment]
        if failed is None:
            at.failed = self.read.last_failed_copy()
            self.operator.save_cursor(CURSOR_FAILED, {"at": at.failed})
        else:
            at.failed = tuple(failed["at"]) if failed["at"] else None  # type: ignore[assignment]
        if states is None:
            accounts = self.read.accounts(0.0)
            at.states = {a.label: a.state for a in accounts}
            at.deadlocks = _deadlocks(accounts)
            self.operator.save_cursor(CURSOR_STATES, {"states": at.states, "deadlocks": at.deadlocks})
        else:
            at.states = dict(states.get("states", {}))
            at.deadlocks = dict(states.get("deadlocks", {}))
        if daily is None:
            # A first start is not the summary's hour: the first one comes when its hour is next reached.
            moment = datetime.fromtimestamp(self.wall(), tz=UTC)
            day = moment.date() if moment.hour >= max(self.daily_hour, 0) else moment.date() - timedelta(days=1)
            at.daily = day.isoformat()
            self.operator.save_cursor(CURSOR_DAILY, {"date": at.daily})
        else:
            at.daily = daily.get("date")
        return at

    def poll(self, now_bot: float, now_wall: float) -> list[Notice]:
        """Everything new since the last call, oldest first."""
        notices = self._fills() + self._failed_copies() + self._states()
        daily = self._daily(now_bot, now_wall)
        if daily is not None:
            notices.append(daily)
        return notices

    def _fills(self) -> list[Notice]:
        found = []
        for signal in self.read.signals_completed_after(self._at.signals):
            assert signal.completed_at is not None
            self._at.signals = (signal.completed_at, signal.signal_id)
            found.append(Notice(MASTER_FILL, signal.summary_line(), (CURSOR_SIGNALS, {"at": self._at.signals}),
                                urgent=any(c.status == "failed" for c in signal.copies)))
        return found

    def _failed_copies(self) -> list[Notice]:
        found = []
        for signal, copy in self.read.failed_copies_after(self._at.failed):
            self._at.failed = (copy.updated_at, signal.signal_id, copy.follower_id)
            text = (f"{signal.broker}:{copy.follower_id} could not copy {signal.broker}:master's {signal.side.upper()} "
                    f"{signal.symbol}: {copy.reason}")
            found.append(Notice(COPY_FAILED, text, (CURSOR_FAILED, {"at": self._at.failed}), urgent=True))
        return found

    def _states(self) -> list[Notice]:
        accounts = self.read.accounts(0.0)
        found = []
        for account in accounts:
            before = self._at.states.get(account.label)
            if before == account.state or (before is None and account.state not in PROBLEM_STATES):
                self._at.states[account.label] = account.state
                continue
            self._at.states[account.label] = account.state
            change = f"{before} -> {account.state}" if before else account.state
            text = f"{account.label} {change}: {account.reason}" + (f" Fix: {account.fix}" if account.fix else "")
            found.append(Notice(STATE_CHANGE, text, None, urgent=account.state in PROBLEM_STATES))
        deadlocks = _deadlocks(accounts)
        for broker, reason in deadlocks.items():
            if broker not in self._at.deadlocks:
                found.append(Notice(DEADLOCK, reason, None, urgent=True))
        for broker in self._at.deadlocks:
            if broker not in deadlocks:
                found.append(Notice(DEADLOCK, f"{broker}: the deadlock is over; its followers copy their master "
                                              "again", None))
        self._at.deadlocks = deadlocks
        if found:
            cursor = (CURSOR_STATES, {"states": dict(self._at.states), "deadlocks": dict(deadlocks)})
            found[-1] = Notice(found[-1].kind, found[-1].text, cursor, found[-1].urgent)
        return found

    def _daily(self, now_bot: float, now_wall: float) -> Notice | None:
        if self.daily_hour < 0:
            return None
        moment = datetime.fromtimestamp(now_wall, tz=UTC)
        today = moment.date().isoformat()
        if moment.hour < self.daily_hour or self._at.daily == today:
            return None
        self._at.daily = today
        return Notice(DAILY, daily_summary(self.read.accounts(now_bot), self.read, now_bot),
                      (CURSOR_DAILY, {"date": today}))


def _deadlocks(accounts: list[AccountView]) -> dict[str, str]:
    """Brokerages whose followers stand down while nobody trades for them, with the reason (docs/rules.md §1)."""
    found: dict[str, str] = {}
    for account in accounts:
        if account.role != "master" and account.state in _STUCK_FOLLOWER_STATES and account.broker not in found:
            stuck = [a.label for a in accounts if a.broker == account.broker and a.role != "master"
                     and a.state in _STUCK_FOLLOWER_STATES]
            found[account.broker] = (f"DEADLOCK on {account.broker}: {', '.join(stuck)} stand down to copy the master "
                                     f"and nobody trades for them: {account.reason}"
                                     + (f" Fix: {account.fix}" if account.fix else ""))
    return found


def daily_summary(accounts: list[AccountView], read: ReadModel, now_bot: float) -> str:
    """Per account over the last 24 hours of bot time: trades closed, realised P&L; and equity now."""
    since = now_bot - 86_400
    lines = []
    for account in accounts:
        trades = read.trades(account.broker, account.account_id, since)
        pnl = sum(t.realised_pnl for t in trades)
        lines.append(f"{account.label} {account.state}: equity {account.equity:,.2f} USD, {len(trades)} trade(s) "
                     f"closed, realised {pnl:+,.2f} USD, {account.open_positions} open")
    total = sum(a.equity for a in accounts)
    return "\n".join([f"last 24 h, {len(accounts)} account(s), equity {total:,.2f} USD", *lines])
