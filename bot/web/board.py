"""The data behind every page and API answer: the store's read model, the operator's tables and, in the
running bot, what only the process knows (threads, prices). Read-only except for the two controls.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from bot.accounts.states import ACTIVE_STATES
from bot.config.settings import Settings
from bot.state.operator import (
    ALL,
    BotRun,
    ControlEvent,
    EntryPause,
    EquitySample,
    OperatorStore,
    RunStatus,
    process_alive,
    run_status,
)
from bot.state.readmodel import AccountView, PositionView, ReadModel, SignalView, TrackingView, TradeView
from bot.web.live import LiveBot, StuckWatch

#: states of a user that copies its master (docs/rules.md §1)
FOLLOWER_STATES = frozenset({"FOLLOWING", "STANDING_DOWN", "MASTER_OFFLINE"})


def attention(account: AccountView) -> list[str]:
    """Why the operator should look at this account, one line per cause: its thread is not healthy, or its
    state is not one that places orders (the accounts page counts them, /healthz warns with them)."""
    why = []
    if account.health is not None and account.health.status != "healthy":
        why.append(f"{account.label} health {account.health.status}: {account.health.last_error}")
    if account.state not in ACTIVE_STATES:
        why.append(f"{account.label} {account.state}: {account.reason}")
    return why


def needs_attention(account: AccountView) -> bool:
    return bool(attention(account))


@dataclass(frozen=True)
class PositionRow(PositionView):
    """An open position with its current price and unrealised P&L when the running bot knows the price."""

    label: str = ""
    price: float | None = None
    unrealised_pnl: float | None = None  # at the price, less what it cost (fees included)
    stop_distance_pct: float | None = None  # how far the price is above the stop


@dataclass(frozen=True)
class AccountRow(AccountView):
    """One account for the accounts page and /api/v1/accounts: the stored view plus what the cockpit adds."""

    follows: str | None = None  # the master a follower copies
    unrealised_pnl: float | None = None  # open positions at the last price; None when unknown (no bot running)
    pnl_total: float = 0.0  # closed trades, plus open ones (partial exits, fees paid, and at the last price)
    last_cycle_age: float | None = None  # bot-clock seconds since its last pass
    entries_paused: str | None = None  # why new entries are refused by an operator control
    positions: list[PositionRow] = field(default_factory=list)


@dataclass(frozen=True)
class EquityPoint:
    time: float
    equity: float
    cash: float


@dataclass(frozen=True)
class AccountDetail:
    account: AccountRow
    trades: list[TradeView]
    equity_curve: list[EquityPoint]
    copies: list[SignalView]  # a follower's copies (newest first), or a master's signals


@dataclass(frozen=True)
class TrackingRow(TrackingView):
    """A follower beside its master: per matched trade, and by equity over the same window."""

    master_id: str = "master"
    window_start: float | None = None
    follower_equity_return_pct: float | None = None
    master_equity_return_pct: float | None = None
    equity_tracking_difference_pct: float | None = None


@dataclass(frozen=True)
class BotStatusView:
    running: bool
    text: str
    mode: str | None
    pid: int | None
    host: str | None
    started_at: float | None
    stopped_at: float | None
    heartbeat_age: float | None
    served_by: str  # "the running bot" or "a read-only viewer"


@dataclass(frozen=True)
class ControlsView:
    writable: bool  # controls exist in this process (the running bot) and a token is set
    why_not: str  # why the controls are unavailable
    entries_blocked: EntryPause | None
    paused: list[EntryPause]
    log: list[ControlEvent]


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    problems: list[str]
    warnings: list[str]
    bot: BotStatusView
    threads: int


class Board:
    """Everything the cockpit shows, assembled per request from the store (and the live bot when in-process)."""

    def __init__(
        self, read: ReadModel, operator: OperatorStore, settings: Settings, live: LiveBot | None = None, *,
        wall: Callable[[], float] = time.time, stuck: StuckWatch | None = None,
        lock: Callable[[], bool | None] | None = None,
    ) -> None:
        """``lock`` (a viewer's): whether the bot holds its state directory's lock now (None: unknown)."""
        self.read = read
        self.lock = lock
        self.operator = operator
        self.settings = settings
        self.live = live
        self.wall = wall
        self.stuck = stuck or StuckWatch(settings.web.healthz_stuck_seconds)

    # ---- time and the bot itself ------------------------------------------------------------------
    def now(self) -> float:
        """The bot clock: the live bot's, else the later of the wall clock and the store's last update."""
        if self.live is not None:
            return self.live.now()
        return max(self.wall(), self.read.latest_update() or 0.0)

    def run_status(self) -> RunStatus:
        run = self.operator.last_run()
        held = True if self.live is not None else (self.lock() if self.lock is not None else None)
        return run_status(run, self.wall(), self.settings.web.store_heartbeat_seconds,
                          pid_alive=process_alive(run) if run is not None else None, lock_held=held)

    def bot(self) -> BotStatusView:
        return self.bot_and_mode()[0]

    def bot_and_mode(self) -> tuple[BotStatusView, str]:
        """The bot's status and the mode to show, from one read of the last run (a page shows both)."""
        status = self.run_status()
        run = status.run
        view = BotStatusView(
            running=status.running, text=status.text, mode=run.mode if run else None, pid=run.pid if run else None,
            host=run.host if run else None, started_at=run.started_at if run else None,
            stopped_at=run.stopped_at if run else None, heartbeat_age=status.heartbeat_age,
            served_by="the running bot" if self.live is not None else "a read-only viewer",
        )
        return view, self.mode_of(run)

    def mode_of(self, run: BotRun | None) -> str:
        """The mode to show: the live bot's own, else that of ``run`` (the store's last run)."""
        if self.live is not None:
            return self.live.mode
        return run.mode if run is not None else "unknown"

    # ---- accounts ----------------------------------------------------------------------------------
    def accounts(self, pauses: list[EntryPause] | None = None) -> list[AccountRow]:
        """``pauses``: the entry pauses when the caller read them already (a page shows them in its banner too)."""
        now = self.now()
        views = self.read.accounts(now)
        positions: dict[tuple[str, str], list[PositionView]] = defaultdict(list)
        for position in self.read.positions():
            positions[(position.broker, position.account_id)].append(position)
        prices = self._prices(positions)
        followers = self.read.followers()
        pauses = self.operator.entry_pauses() if pauses is None else pauses
        return [self._row(v, positions.get((v.broker, v.account_id), []), prices, followers, pauses, now)
                for v in views]

    def _prices(self, positions: dict[tuple[str, str], list[PositionView]]) -> dict[tuple[str, str], float]:
        if self.live is None:
            return {}
        wanted: dict[str, set[str]] = defaultdict(set)
        for (broker, _), held in positions.items():
            wanted[broker].update(p.symbol for p in held)
        found = {}
        for broker, symbols in wanted.items():
            for symbol, price in self.live.prices(broker, sorted(symbols)).items():
                found[(broker, symbol)] = price
        return found

    def _row(
        self, view: AccountView, held: list[PositionView], prices: dict[tuple[str, str], float],
        followers: set[tuple[str, str]], pauses: list[EntryPause], now: float,
    ) -> AccountRow:
        rows = [_position_row(p, prices.get((p.broker, p.symbol))) for p in held]
        known = [r.unrealised_pnl for r in rows if r.unrealised_pnl is not None]
        unrealised = sum(known) if rows and len(known) == len(rows) else (0.0 if not rows else None)
        pause = _pause_for(pauses, view.broker, view.account_id)
        is_follower = view.role != "master" and (view.state in FOLLOWER_STATES or (view.broker, view.account_id)
                                                 in followers)
        health = view.health
        return AccountRow(
            **{f.name: getattr(view, f.name) for f in fields(AccountView)},
            follows=f"{view.broker}:master" if is_follower else None, unrealised_pnl=unrealised,
            pnl_total=view.realised_pnl + view.open_trip_pnl + (unrealised or 0.0),
            last_cycle_age=(now - health.last_cycle_at) if health and health.last_cycle_at is not None else None,
            entries_paused=pause.describe() if pause is not None else None, positions=rows,
        )

    def account(self, broker: str, account_id: str, pauses: list[EntryPause] | None = None) -> AccountDetail | None:
        row = next((a for a in self.accounts(pauses) if a.broker == broker and a.account_id == account_id), None)
        if row is None:
            return None
        trades = self.read.trades(broker, account_id)
        samples = self.operator.equity_samples(broker, account_id, most=self.settings.web.equity_curve_points)
        curve = [EquityPoint(s.time, s.equity, s.cash) for s in samples]
        if row.role == "master":
            copies = self.read.signals(broker, limit=50)
        else:
            copies = [s for s in self.read.signals(broker, limit=200) if any(c.follower_id == account_id
                                                                              for c in s.copies)][:50]
        return AccountDetail(row, trades[::-1][:500], curve, copies)

    def positions(self, broker: str | None = None, account_id: str | None = None) -> list[PositionRow]:
        held: dict[tuple[str, str], list[PositionView]] = defaultdict(list)
        for position in self.read.positions(broker, account_id):
            held[(position.broker, position.account_id)].append(position)
        prices = self._prices(held)
        return [_position_row(p, prices.get((p.broker, p.symbol))) for rows in held.values() for p in rows]

    # ---- copy trading --------------------------------------------------------------------------------
    def tracking(self, broker: str | None = None) -> list[TrackingRow]:
        rows = []
        masters: dict[str, tuple[EquitySample | None, EquitySample | None]] = {}  # first and latest, per brokerage
        for view in self.read.tracking(broker):
            if view.broker not in masters:
                masters[view.broker] = (self.operator.equity_at(view.broker, "master"),
                                        self.operator.latest_equity(view.broker, "master"))
            window, follower_r, master_r = self._equity_returns(view.broker, view.follower_id, *masters[view.broker])
            rows.append(TrackingRow(
                **{f: getattr(view, f) for f in TrackingView.__dataclass_fields__},
                window_start=window, follower_equity_return_pct=follower_r, master_equity_return_pct=master_r,
                equity_tracking_difference_pct=None if follower_r is None or master_r is None
                else follower_r - master_r,
            ))
        return rows

    def _equity_returns(
        self, broker: str, follower_id: str, master_first: EquitySample | None, master_last: EquitySample | None,
    ) -> tuple[float | None, float | None, float | None]:
        """Both accounts' equity return since the first moment both have an equity sample (index look-ups only:
        an account's samples grow by hundreds a day). The master's first and latest samples come from the caller,
        read once for all its followers."""
        operator = self.operator
        follower_first = operator.equity_at(broker, follower_id)
        if follower_first is None or master_first is None:
            return None, None, None
        start = max(follower_first.time, master_first.time)
        follower_from = follower_first if follower_first.time == start else operator.equity_at(broker, follower_id,
                                                                                               start)
        master_from = master_first if master_first.time == start else operator.equity_at(broker, "master", start)
        return (start, _return_pct(follower_from, operator.latest_equity(broker, follower_id)),
                _return_pct(master_from, master_last))

    # ---- controls ------------------------------------------------------------------------------------
    def controls(self, writable: bool, why_not: str, *, pauses: list[EntryPause] | None = None,
                 with_log: bool = False) -> ControlsView:
        """``pauses`` as in accounts(); the control log only ``with_log`` (the controls page and the API show it,
        every other page only the banner)."""
        pauses = self.operator.entry_pauses() if pauses is None else pauses
        return ControlsView(
            writable=writable, why_not=why_not,
            entries_blocked=next((p for p in pauses if p.everywhere), None),
            paused=[p for p in pauses if not p.everywhere], log=self.operator.control_log(50) if with_log else [],
        )

    # ---- health --------------------------------------------------------------------------------------
    def health(self) -> HealthReport:
        """200-worthy when every thread that should run (each account's, each brokerage's copy thread) is alive
        and not stuck in one pass (issue 12)."""
        bot = self.bot()
        problems: list[str] = []
        warnings: list[str] = []
        threads = 0
        if self.live is not None:
            if not self.live.started():
                problems.append("starting up: connecting and checking the accounts")
            else:
                snapshots = self.live.threads()
                verdicts = self.stuck.verdicts(snapshots)
                threads = len(verdicts)
                problems.extend(v.problem for v in verdicts if not v.ok)
        elif not bot.running:
            problems.append(f"no bot is running: {bot.text}")
        for account in self.read.accounts(self.now()):
            warnings.extend(attention(account))
        return HealthReport(ok=not problems, problems=problems, warnings=warnings, bot=bot, threads=threads)


def _position_row(position: PositionView, price: float | None) -> PositionRow:
    """Unrealised: what the position is worth at the price less what it cost, fees included."""
    unrealised = price * position.quantity - position.cost if price is not None else None
    distance = 100.0 * (price - position.stop_price) / price if price else None
    return PositionRow(
        **{f.name: getattr(position, f.name) for f in fields(PositionView)},
        label=f"{position.broker}:{position.account_id}", price=price, unrealised_pnl=unrealised,
        stop_distance_pct=distance,
    )


def _return_pct(first: EquitySample | None, last: EquitySample | None) -> float | None:
    if first is None or last is None or first.equity <= 0:
        return None
    return 100.0 * (last.equity / first.equity - 1.0)


def _pause_for(pauses: list[EntryPause], broker: str, account_id: str) -> EntryPause | None:
    return next((p for p in pauses if p.everywhere), None) or next(
        (p for p in pauses if p.broker == broker and p.account_id == account_id), None)


__all__ = ["ALL", "AccountDetail", "AccountRow", "Board", "PositionRow"]
