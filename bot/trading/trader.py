"""The independent broker trader: connect every account, state what each does, run one thread per account with work.

Orchestration only. Every brokerage gets its own market-data service (its own Broker instance for
public data), its own copy dispatcher and its own threads; every account gets its own Broker instance
(own session, own nonce), so nothing one account or brokerage does can reach another's orders. One
execution ledger (bot/execution) sends, settles and books every order of every account.

Start-up: masters first, then users; each account classified by the diagnostics (the one
classification every entry point uses), the table printed and stored; reconciliation with each
exchange (unsettled orders settled and booked first, then holdings compared); then the threads,
staggered, and each brokerage's copy dispatcher, which carries on with any copy a previous run
left unfinished. While running, the supervisor re-checks the accounts without a thread (unfunded,
unreachable) and starts them when they can trade.

Stopping (docs/rules.md §3): one stop event, set by SIGINT/SIGTERM from the first moment of `run`.
Every account's adapter follows it (bot.brokers.stopping), so from then on no order and no exchange
call starts anywhere, and every wait ends at once; start-up checks it between its steps. stop() gives
the threads most of SHUTDOWN_TIMEOUT_SECONDS to finish the call they are in, cuts the connections of
any still inside one, and saves the state only once they have ended; the store is closed after that.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.accounts.probe import BrokerFactory, ProbeResult, connect_and_probe
from bot.accounts.states import (
    RECHECK_STATES,
    THREAD_STATES,
    AccountState,
    AccountStatus,
    classify_account,
    master_heartbeat_problem,
)
from bot.brokers.base import BalanceSnapshot, Broker
from bot.brokers.errors import AuthenticationError, BrokerError, StopRequested
from bot.clock import Clock, describe_seconds
from bot.config.accounts import AccountConfig, AccountRegistry
from bot.config.sections.exchanges import ExchangeSettings, alpaca_paper
from bot.config.settings import Settings
from bot.console.progress import progress_bar
from bot.console.tables import is_terminal
from bot.copy.dispatcher import Absent, CopyDispatcher
from bot.copy.followers import Follower, eligible_followers, is_follower_of
from bot.copy.guard import FollowerGuard
from bot.execution.ledger import ExecutionLedger
from bot.execution.reconcile import ReconcileReport, reconcile_account
from bot.state.operator import EntryGate
from bot.state.records import AccountStateRecord, OrderRecord, SignalRecord
from bot.state.store import StateStore
from bot.trading.account_table import render_table
from bot.trading.copy_thread import CopyThread
from bot.trading.follower_account import FollowerAccount
from bot.trading.health import HealthTracker, Problem
from bot.trading.market_data import MarketDataService
from bot.trading.market_selection import MarketUniverse, load_universe
from bot.trading.pacing import OrderPacer, Pace
from bot.trading.strategy_account import StrategyAccount
from bot.trading.summary import AccountSummary, render_summary
from bot.trading.worker import AccountWorker, Waiter

log = logging.getLogger(__name__)

EXIT_RESERVE_SECONDS = 1.0  # of SHUTDOWN_TIMEOUT_SECONDS kept for the summary, closing the store and exiting
ABORT_GRACE_SECONDS = 1.0  # how long threads get after their connections are cut


def order_destinations(exchanges: ExchangeSettings, accounts: list[AccountConfig], live: bool) -> dict[str, str]:
    """Where each brokerage's orders go, from the settings the adapters will use (the live banner says it)."""
    found: dict[str, list[str]] = {}
    for account in accounts:
        if account.credentials is None:
            continue
        paper = alpaca_paper(account.credentials.paper, live)
        where = exchanges.destination(account.broker, alpaca_paper=paper)
        if account.broker == "alpaca" and exchanges.alpaca_api_url is None:
            where = f"{where} ({'paper' if paper else 'LIVE'} account)"
        if where not in found.setdefault(account.broker, []):
            found[account.broker].append(where)
    return {broker: " and ".join(places) for broker, places in sorted(found.items())}


#: states in which a follower's copy cannot succeed until the user acts: its copies fail with the reason
PERMANENT_COPY_FAILURES = frozenset({
    AccountState.NO_CREDENTIALS, AccountState.BAD_CREDENTIALS, AccountState.AUTH_FAILED, AccountState.DISABLED,
})


class LiveOrderRefused(RuntimeError):
    """The trader was asked to run real exchanges without LIVE_TRADING=true."""


@dataclass
class AccountSlot:
    """Everything the trader knows about one account."""

    account: AccountConfig
    status: AccountStatus
    broker: Broker | None = None
    worker: AccountWorker | None = None
    work: StrategyAccount | FollowerAccount | None = None
    snapshot: BalanceSnapshot | None = None
    probe: ProbeResult | None = None
    start_equity: float | None = None
    reconcile: ReconcileReport | None = None
    pace: Pace | None = None

    @property
    def label(self) -> str:
        return self.account.label


@dataclass
class Brokerage:
    """One brokerage's shared parts: market data, its market universe and its copy dispatcher."""

    name: str
    data_broker: Broker | None = None
    market_data: MarketDataService | None = None
    universe: MarketUniverse | None = None
    dispatcher: CopyDispatcher | None = None
    copy_thread: CopyThread | None = None
    slots: list[AccountSlot] = field(default_factory=list)


class Trader:
    """Runs every account of every brokerage; one instance per process."""

    def __init__(
        self,
        settings: Settings,
        registry: AccountRegistry,
        clock: Clock,
        store: StateStore,
        *,
        broker_factory: BrokerFactory,
        paper: bool,
        out: TextIO | None = None,
        seed: int | None = None,
        stop_event: threading.Event | None = None,
        entry_gate: EntryGate | None = None,
    ) -> None:
        """stop_event: the run's stop request (signals set it); every adapter the trader builds follows it."""
        if not paper and not settings.general.live_trading:
            raise LiveOrderRefused("refusing to trade real exchanges: LIVE_TRADING is not true")
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.store = store
        self.broker_factory = broker_factory
        self.paper = paper
        self.entry_gate = entry_gate  # the operator's entry controls (docs/rules.md §3); never asked before an exit
        self.out = out or sys.stdout
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.brokerages: dict[str, Brokerage] = {}
        self.slots: list[AccountSlot] = []
        self.started_at = clock.now()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._thread_count = 0
        self.ledger = ExecutionLedger(store, settings, clock, followers_of=self._followers_of)
        self.ledger.on_signal(self._wake_copy_thread)  # a signal booked: its copies to make
        self.ledger.on_in_flight(self._wake_copy_thread)  # an order in flight: the copy thread looks it up

    # ---- start-up ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect and classify every account, print and store the table, reconcile, start the threads."""
        for problem in self.registry.problems:
            log.error("account configuration: %s", problem)
        accounts = sorted(self.registry.accounts, key=lambda a: (a.broker, not a.is_master, a.account_id))
        # Connecting many accounts over a real network takes seconds: a bar on a terminal, nothing elsewhere.
        with progress_bar("connecting accounts", len(accounts)) as connecting:
            for account in accounts:
                if self._stopping("connecting the accounts"):
                    return
                brokerage = self.brokerages.setdefault(account.broker, Brokerage(account.broker))
                slot = self._connect(account)
                brokerage.slots.append(slot)
                self.slots.append(slot)
                connecting.advance(account.label)
        self._print_table("accounts at start-up")
        self._warn_about_modes()
        for brokerage in self.brokerages.values():
            if self._stopping("preparing market data and copy trading"):
                return
            self._prepare_brokerage(brokerage)
        for slot in self.slots:
            if self._stopping("reconciling"):
                return
            if slot.status.state in THREAD_STATES and slot.broker is not None:
                slot.reconcile = self._reconcile(slot)
        for slot in self.slots:
            self._start_worker(slot)
        for brokerage in self.brokerages.values():
            self._start_copy_thread(brokerage)

    def _stopping(self, step: str) -> bool:
        """Start-up looks at the stop request between its steps: a stop at start-up ends it there."""
        if self.stop_event.is_set():
            log.info("stop requested while %s: start-up ends here", step)
            return True
        return False

    def _make_broker(self, account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> Broker:
        """The factory's adapter, following the run's stop request from its first call."""
        broker = self.broker_factory(account, settings, clock, state_dir)
        broker.stop_token.follow(self.stop_event)
        return broker

    def _connect(self, account: AccountConfig) -> AccountSlot:
        slot = AccountSlot(account, AccountStatus(AccountState.UNREACHABLE, "not checked yet"))
        self._probe(slot)
        return slot

    def _probe(self, slot: AccountSlot) -> None:
        """Build the slot's own client, probe and classify it (start-up and re-checks alike), store the state."""
        slot.broker, slot.probe = connect_and_probe(
            slot.account, self.settings, self.clock, self._state_dir, self._make_broker
        )
        if slot.probe.error_type == StopRequested.__name__:  # not checked: the bot stopped first
            slot.status = AccountStatus(AccountState.UNREACHABLE, "not checked: the bot stopped during start-up")
            return
        slot.snapshot = slot.probe.snapshot
        slot.status = self._classify(slot.account, slot.probe)
        if slot.snapshot is not None and slot.start_equity is None:
            slot.start_equity = slot.snapshot.equity
        self._save_state(slot)

    @property
    def _state_dir(self) -> Path:
        return Path(self.settings.general.state_dir)

    def _classify(self, account: AccountConfig, probe: ProbeResult) -> AccountStatus:
        """The diagnostics' classification; a follower's depends on its master's (classified first)."""
        master_status = None
        offline = None
        if not account.is_master:
            master = next((s for s in self.slots if s.account.broker == account.broker and s.account.is_master), None)
            master_status = master.status if master is not None else None
            if master is not None and master.worker is not None and not master.worker.is_alive():
                beat = self.store.master_heartbeat(account.broker)
                offline = master_heartbeat_problem(beat.last_seen if beat else None, self.clock.now(), self.settings)
        return classify_account(account, probe, self.registry, self.settings, master_status,
                                master_offline_reason=offline)

    def _warn_about_modes(self) -> None:
        general = self.settings.general
        if general.copy_observe_only and general.copies_masters:
            self._say("!" * 100)
            self._say("COPY_OBSERVE_ONLY=true: the copy engine only logs what it would copy. FOLLOWERS WILL NOT TRADE.")
            self._say("Set COPY_OBSERVE_ONLY=false to let followers copy their master.")
            self._say("!" * 100)
        if general.entry_blocking:
            self._say("ENTRY_BLOCKING=true: no new entries on any account; exits keep working.")

    def _prepare_brokerage(self, brokerage: Brokerage) -> None:
        """The copy engine with its followers and, when an account runs APEX, the shared market data."""
        master = next((s for s in brokerage.slots if s.account.is_master), None)
        if self.settings.general.copies_masters and master is not None:
            brokerage.dispatcher = CopyDispatcher(brokerage.name, self.store, self.ledger, self.settings, self.clock,
                                                  entry_gate=self.entry_gate)
            self._refresh_followers(brokerage)
        if any(self._runs_strategy(s) and s.status.state in THREAD_STATES for s in brokerage.slots):
            self._ensure_market_data(brokerage)

    def _ensure_market_data(self, brokerage: Brokerage) -> MarketDataService | None:
        """One Broker instance for public data per brokerage (not any account's own), the market list once."""
        if brokerage.market_data is not None:
            return brokerage.market_data
        connected = sorted((s for s in brokerage.slots if s.broker is not None), key=lambda s: not s.account.is_master)
        if not connected:
            return None
        try:
            data_broker = self._make_broker(connected[0].account, self.settings, self.clock, self._state_dir)
        except (BrokerError, ValueError) as error:
            log.error("%s market data client unavailable: %s", brokerage.name, error)
            return None
        brokerage.data_broker = data_broker
        brokerage.market_data = MarketDataService(data_broker, self.settings.strategy, self.clock,
                                                  self.settings.trader)
        try:
            brokerage.universe = load_universe(data_broker, self.settings.strategy)
            log.info("%s: scanning %d markets", brokerage.name, len(brokerage.universe.symbols))
        except BrokerError as error:
            log.error("%s market list unavailable (%s); the strategy passes retry it", brokerage.name, error)
        return brokerage.market_data

    def _followers_of(self, broker: str) -> list[str]:
        """Every follower configured for the brokerage gets a copy of each signal, reachable now or not (failure 7)."""
        return [a.account_id for a in eligible_followers(broker, self.registry.accounts, self.settings)]

    def _refresh_followers(self, brokerage: Brokerage) -> None:
        """The dispatcher's clients: followers with a client now; why the others have none (for good or not)."""
        if brokerage.dispatcher is None:
            return
        followers: list[Follower] = []
        absent: dict[str, Absent] = {}
        accounts = {s.account.account_id: s.broker for s in brokerage.slots if s.broker is not None}
        for slot in brokerage.slots:
            if not is_follower_of(slot.account, brokerage.name, self.settings):
                continue
            if slot.broker is not None and slot.status.state not in PERMANENT_COPY_FAILURES:
                followers.append(Follower(slot.account, slot.broker))
            else:
                absent[slot.account.account_id] = Absent(
                    f"{slot.status.state}: {slot.status.reason}",
                    permanent=slot.status.state in PERMANENT_COPY_FAILURES,
                )
        brokerage.dispatcher.set_followers(followers, absent, accounts)

    def _wake_copy_thread(self, record: SignalRecord | OrderRecord) -> None:
        brokerage = self.brokerages.get(record.broker)
        if brokerage is not None and brokerage.copy_thread is not None:
            brokerage.copy_thread.wake()

    def _start_copy_thread(self, brokerage: Brokerage) -> None:
        if brokerage.dispatcher is None or brokerage.copy_thread is not None or self.stop_event.is_set():
            return
        brokerage.copy_thread = CopyThread(brokerage.dispatcher, self.clock)
        brokerage.copy_thread.start()

    def _runs_strategy(self, slot: AccountSlot) -> bool:
        return slot.account.is_master or not is_follower_of(slot.account, slot.account.broker, self.settings)

    def _reconcile(self, slot: AccountSlot) -> ReconcileReport | None:
        assert slot.broker is not None
        try:
            report = reconcile_account(slot.account, slot.broker, self.store, self.ledger,
                                      self.settings.general.cash_assets)
        except BrokerError as error:
            log.warning("%s reconciliation not possible now: %s", slot.label, error)
            return None
        for line in report.lines():
            self._say(f"{slot.label} reconcile: {line}")
        return report

    def _symbols(self, brokerage: Brokerage, account: AccountConfig) -> Callable[[], tuple[str, ...]]:
        def symbols() -> tuple[str, ...]:
            if brokerage.universe is None and brokerage.data_broker is not None:
                brokerage.universe = load_universe(brokerage.data_broker, self.settings.strategy)
            if brokerage.universe is None:
                return ()
            return brokerage.universe.for_account(account.disabled_symbols)

        return symbols

    def _data_problem(self, brokerage: Brokerage, account: AccountConfig) -> Callable[[], Problem | None]:
        """The account's market-data trouble now, for its health (None while its data is fine or unknown)."""
        symbols = self._symbols(brokerage, account)

        def problem() -> Problem | None:
            if brokerage.market_data is None:
                return None
            try:
                return brokerage.market_data.problem(symbols())
            except BrokerError:  # the market list is unavailable: the pass itself says so
                return None

        return problem

    def _start_worker(self, slot: AccountSlot) -> None:
        with self._lock:
            if slot.worker is not None or slot.broker is None or slot.status.state not in THREAD_STATES:
                return
            if self.stop_event.is_set():
                return
            brokerage = self.brokerages[slot.account.broker]
            waiter = Waiter(self.clock, self.stop_event)
            pacer = OrderPacer(self.clock, waiter.wait, stop=self.stop_event)
            on_balance = self._balance_callback(slot)
            if self._runs_strategy(slot):
                market_data = self._ensure_market_data(brokerage)
                if market_data is None:
                    log.error("%s has no market data; it is retried at the next re-check", slot.label)
                    return
                is_master_follow = slot.account.is_master and brokerage.dispatcher is not None
                work: StrategyAccount | FollowerAccount = StrategyAccount(
                    slot.account, slot.broker, self.store, self.settings, self.clock, market_data,
                    self._symbols(brokerage, slot.account), pacer, ledger=self.ledger,
                    emits_signals=is_master_follow, beat_master=is_master_follow, on_balance=on_balance,
                    entry_gate=self.entry_gate,
                )
            else:
                follower = Follower(slot.account, slot.broker)
                guard = FollowerGuard(follower, self.store, self.settings, self.clock, self.ledger)
                work = FollowerAccount(follower, guard, self.store, on_balance=on_balance)
            first_wait = self._first_wait()
            slot.work = work
            health = HealthTracker(
                slot.account.broker, slot.account.account_id, self.settings.trader, calls=slot.broker.call_log.counts,
                problem=self._data_problem(brokerage, slot.account) if work.runs_strategy else None,
            )
            slot.worker = AccountWorker(
                slot.account, work, self.clock, waiter, self.settings.trader, health=health,
                first_wait_seconds=first_wait,
                on_health=self.store.save_health,
                on_auth_failure=self._auth_failed,
                on_pace=lambda pace, slot=slot, pacer=pacer: self._paced(slot, pacer, pace),
            )
            pacer.spacing_seconds = slot.worker.pace.order_spacing_seconds
            slot.worker.start()
            log.info("%s thread started (%s, first pass in %s)", slot.label,
                     "APEX" if work.runs_strategy else "follower guard", describe_seconds(first_wait, self.clock))

    def _first_wait(self) -> float:
        """Thread i waits i x THREAD_STAGGER_SECONDS plus a random FIRST_WAIT (none in paper mode)."""
        t = self.settings.trader
        index = self._thread_count
        self._thread_count += 1
        if self.paper:
            return 0.0
        low, high = sorted((t.first_wait_min_seconds, t.first_wait_max_seconds))
        return index * t.thread_stagger_seconds + self._random.uniform(low, high)

    def _paced(self, slot: AccountSlot, pacer: OrderPacer, pace: Pace) -> None:
        slot.pace = pace
        pacer.spacing_seconds = pace.order_spacing_seconds

    def _balance_callback(self, slot: AccountSlot) -> Callable[[BalanceSnapshot, int], None]:
        def update(snapshot: BalanceSnapshot, open_positions: int) -> None:
            slot.snapshot = snapshot
            if slot.start_equity is None:
                slot.start_equity = snapshot.equity
            self._save_state(slot, open_positions)

        return update

    def _auth_failed(self, account: AccountConfig, error: AuthenticationError) -> None:
        slot = next(s for s in self.slots if s.account is account)
        slot.status = self._classify(account, ProbeResult.from_error(error))
        self._save_state(slot)
        self._refresh_followers(self.brokerages[account.broker])
        self._say(f"{slot.label} STOPPED: {slot.status.reason}")

    # ---- running ------------------------------------------------------------------------------------
    def recheck(self) -> list[AccountSlot]:
        """Re-probe accounts without a thread (unfunded, unreachable...); start those that can trade now."""
        started = []
        for brokerage in self.brokerages.values():
            for slot in brokerage.slots:
                if slot.worker is not None:
                    continue
                if slot.status.state in THREAD_STATES:  # its start failed earlier (no market data yet)
                    self._start_worker(slot)
                    continue
                if slot.status.state not in RECHECK_STATES:
                    continue
                old = slot.status.state
                if slot.broker is not None:
                    slot.broker.close()
                self._probe(slot)
                if slot.status.state in THREAD_STATES:
                    self._say(f"{slot.label} is now {slot.status.state} (was {old}): {slot.status.reason}")
                    slot.reconcile = self._reconcile(slot)
                    self._start_worker(slot)
                    started.append(slot)
                self._refresh_followers(brokerage)
            self._reclassify_followers(brokerage)
        return started

    def _reclassify_followers(self, brokerage: Brokerage) -> None:
        """A follower's state depends on its master's: say so when the master comes or goes."""
        for slot in brokerage.slots:
            if slot.account.is_master or slot.worker is None or not slot.worker.is_alive() or slot.snapshot is None:
                continue
            previous = slot.probe
            probe = ProbeResult.from_snapshot(slot.snapshot, previous.min_order_usd if previous else None,
                                              previous.min_order_symbol if previous else "")
            status = self._classify(slot.account, probe)
            if status != slot.status:
                self._say(f"{slot.label} is now {status.state} (was {slot.status.state}): {status.reason}")
                slot.status = status
                self._save_state(slot)

    def run_until_stopped(self, stop: threading.Event | None = None) -> None:
        """The supervisor loop on the calling thread: re-checks until stop() or the event is set."""
        interval = self.settings.trader.recheck_interval_seconds
        while not self.stop_event.is_set() and not (stop is not None and stop.is_set()):
            if self.clock.wait(interval, stop or self.stop_event):
                break
            try:
                self.recheck()
            except Exception:  # the supervisor must outlive any one account's trouble
                log.exception("re-check failed")

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True when every running thread waits for a future time (tests step a ManualClock with it)."""
        return all(t.wait_idle(timeout) for t in self.threads())

    def workers(self) -> list[AccountWorker]:
        return [s.worker for s in self.slots if s.worker is not None]

    def copy_threads(self) -> list[CopyThread]:
        return [b.copy_thread for b in self.brokerages.values() if b.copy_thread is not None]

    def threads(self, brokers: Collection[str] | None = None) -> list[AccountWorker | CopyThread]:
        """Every thread the trader runs (account workers and copy dispatchers), optionally of some brokerages."""
        threads: list[AccountWorker | CopyThread] = [*self.workers(), *self.copy_threads()]
        if brokers is None:
            return threads
        return [t for t in threads if (t.account.broker if isinstance(t, AccountWorker) else t.broker_name) in brokers]

    # ---- shutdown -------------------------------------------------------------------------------------
    def stop(self, *, final_refresh: bool | None = None) -> list[str]:
        """Stop every thread within SHUTDOWN_TIMEOUT_SECONDS, then save state; the labels still running.

        The stop event is set first (normally already, by the signal): no new order or call starts.
        Threads get until EXIT_RESERVE + ABORT_GRACE seconds before the timeout to finish the call they
        are in; the connections of any still inside one are then cut (an order cut off is in flight,
        looked up at the next start) and they get ABORT_GRACE more. State is written only after that,
        so nothing writes to the store once it is closed. final_refresh (default: paper mode only,
        where the exchange is local) reads each account's balance once more for the closing state.
        """
        self.stop_event.set()
        for copy_thread in self.copy_threads():
            copy_thread.stop()
        started = time.monotonic()
        budget = max(self.settings.trader.shutdown_timeout_seconds - EXIT_RESERVE_SECONDS, 0.5)
        self._join_threads(started + max(budget - ABORT_GRACE_SECONDS, budget / 2))
        if self.threads_alive():
            cut = sum(broker.stop_token.abort() for broker in self._brokers())
            log.warning("threads still inside an exchange call: %d connection(s) cut", cut)
            self._join_threads(started + budget)
        stuck = [t.name for t in self.threads() if t.is_alive()]
        for name in stuck:
            log.error("%s did not stop within %.0f s (inside an exchange call); its last state is saved",
                      name, self.settings.trader.shutdown_timeout_seconds)
        for brokerage in self.brokerages.values():
            if brokerage.dispatcher is not None and not stuck:
                brokerage.dispatcher.close()
        refresh = self.paper if final_refresh is None else final_refresh
        for slot in self.slots:
            if refresh and slot.broker is not None and slot.snapshot is not None and not (
                slot.worker is not None and slot.worker.is_alive()
            ):
                slot.broker.stop_token.follow(threading.Event())  # its thread has ended: one closing read
                try:
                    slot.snapshot = slot.broker.balances()
                except BrokerError as error:
                    log.warning("%s closing balance unavailable: %s", slot.label, error)
                finally:
                    slot.broker.stop_token.follow(self.stop_event)
            self._save_state(slot)
            if slot.worker is not None:
                self.store.save_health(slot.worker.health.snapshot())
        return stuck

    def _join_threads(self, deadline: float) -> None:
        for thread in self.threads():
            thread.join(max(deadline - time.monotonic(), 0.0))

    def _brokers(self) -> list[Broker]:
        found = [s.broker for s in self.slots if s.broker is not None]
        return found + [b.data_broker for b in self.brokerages.values() if b.data_broker is not None]

    def threads_alive(self) -> bool:
        """Whether any thread still runs (the store must then stay open until the process ends)."""
        return any(t.is_alive() for t in self.threads())

    def close_brokers(self) -> None:
        for slot in self.slots:
            if slot.broker is not None:
                slot.broker.close()
        for brokerage in self.brokerages.values():
            if brokerage.data_broker is not None:
                brokerage.data_broker.close()

    def summaries(self) -> list[AccountSummary]:
        result = []
        for slot in self.slots:
            fills = [f for f in self.store.fills(slot.account.broker, slot.account.account_id)
                     if f.time >= self.started_at]
            positions = self.store.positions(slot.account.broker, slot.account.account_id)
            equity = slot.snapshot.equity if slot.snapshot is not None else None
            pnl = equity - slot.start_equity if equity is not None and slot.start_equity is not None else None
            health = slot.worker.health.snapshot() if slot.worker is not None else None
            result.append(AccountSummary(
                label=slot.label, role=str(slot.account.role), state=str(slot.status.state), trades=len(fills),
                buys=sum(1 for f in fills if f.side == "buy"), sells=sum(1 for f in fills if f.side == "sell"),
                start_equity=slot.start_equity, equity=equity, pnl=pnl,
                open_positions=tuple(f"{p.symbol} {p.quantity}" for p in positions),
                health=str(health.status) if health else "-", errors=health.consecutive_errors if health else 0,
            ))
        return result

    def print_summary(self) -> None:
        self._say(render_summary(self.summaries(), terminal=is_terminal(self.out)))

    # ---- state table -------------------------------------------------------------------------------
    def _save_state(self, slot: AccountSlot, open_positions: int | None = None) -> None:
        if open_positions is None:
            open_positions = len(self.store.positions(slot.account.broker, slot.account.account_id))
        snapshot = slot.snapshot
        self.store.save_account_state(
            AccountStateRecord(
                broker=slot.account.broker, account_id=slot.account.account_id, role=str(slot.account.role),
                state=str(slot.status.state), reason=slot.status.reason, fix=slot.status.fix,
                equity=snapshot.equity if snapshot else 0.0, cash=snapshot.cash_available if snapshot else 0.0,
                open_positions=open_positions,
            )
        )

    def _print_table(self, title: str) -> None:
        self._say(render_table(title, [(s.account, s.status, s.snapshot) for s in self.slots],
                               terminal=is_terminal(self.out)))

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

