"""One account's thread: it only orchestrates. Each pass is the account's work object's job.

The loop runs the strategy pass when it is due (masters and independent users) and the faster
monitoring pass in between (exits for strategy accounts, the guard for followers). An error
backs off exponentially and is written to the account's health; an authentication failure stops
this account with its reason; nothing here can reach another account's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from bot.brokers.errors import AuthenticationError, StopRequested
from bot.clock import Clock, describe_seconds
from bot.config.accounts import AccountConfig
from bot.config.sections.trader import TraderSettings
from bot.logsetup import account_context
from bot.state.records import HealthRecord
from bot.trading.backoff import Backoff
from bot.trading.health import HealthTracker, describe_error
from bot.trading.pacing import Pace, pace_for

log = logging.getLogger(__name__)


class AccountWork(Protocol):
    """What a worker drives: a strategy account or a follower's guard."""

    runs_strategy: bool

    def equity(self) -> float:
        """The account's last known equity in USD (chooses its pace)."""
        ...

    def strategy_pass(self) -> None: ...

    def monitor_pass(self) -> None: ...


class Waiter:
    """Every wait of one account's thread goes through here, so the supervisor (and tests driving a
    ManualClock) can tell when the thread is idle until a future time, without sleeping."""

    def __init__(self, clock: Clock, stop: threading.Event) -> None:
        self.clock = clock
        self.stop = stop
        self._idle = threading.Condition()
        self._waiting_until: float | None = None
        self.finished = False

    def wait(self, seconds: float) -> bool:
        """Wait `seconds` of clock time; True when the bot is stopping."""
        with self._idle:
            self._waiting_until = self.clock.now() + max(seconds, 0.0)
            self._idle.notify_all()
        try:
            return self.clock.wait(seconds, self.stop)
        finally:
            with self._idle:
                self._waiting_until = None

    def due_at(self) -> float | None:
        """The clock time this thread waits for now, or None while it works."""
        with self._idle:
            return self._waiting_until

    def finish(self) -> None:
        with self._idle:
            self.finished = True
            self._waiting_until = None
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (real time) until the thread waits for a time still in the future, or has finished."""
        def idle() -> bool:
            if self.finished:
                return True
            return self._waiting_until is not None and self._waiting_until > self.clock.now()

        with self._idle:
            return self._idle.wait_for(idle, timeout)


class AccountWorker(threading.Thread):
    """The thread of one account, named after its broker and account (kraken:master)."""

    def __init__(
        self,
        account: AccountConfig,
        work: AccountWork,
        clock: Clock,
        waiter: Waiter,
        settings: TraderSettings,
        *,
        first_wait_seconds: float = 0.0,
        on_health: Callable[[HealthRecord], None] | None = None,
        on_auth_failure: Callable[[AccountConfig, AuthenticationError], None] | None = None,
        on_pace: Callable[[Pace], None] | None = None,
        health: HealthTracker | None = None,
    ) -> None:
        """health: the account's tracker (with its call log and market-data check); a plain one by default."""
        super().__init__(name=account.label, daemon=True)
        self.account = account
        self.work = work
        self.clock = clock
        self.waiter = waiter
        self.stop_event = waiter.stop
        self.settings = settings
        self.first_wait_seconds = first_wait_seconds
        self.health = health or HealthTracker(account.broker, account.account_id, settings)
        self.backoff = Backoff.from_settings(settings)
        self._on_health = on_health
        self._on_auth_failure = on_auth_failure
        self._on_pace = on_pace
        self.pace: Pace = pace_for(work.equity(), settings)
        self.stopped_reason = ""
        self.passes = 0

    def _wait(self, seconds: float) -> bool:
        return self.waiter.wait(seconds)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.waiter.wait_idle(timeout)

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        with account_context(self.account.label):
            try:
                self._loop()
            finally:
                self.waiter.finish()

    def _loop(self) -> None:
        if self.first_wait_seconds > 0 and self._wait(self.first_wait_seconds):
            return
        next_strategy = self.clock.now()
        while not self.stop_event.is_set():
            started = self.clock.now()
            strategy_due = self.work.runs_strategy and started >= next_strategy
            try:
                if strategy_due:
                    self.work.strategy_pass()
                    next_strategy = started + self.pace.strategy_cycle_seconds
                else:
                    self.work.monitor_pass()
                record = self.health.success(self.clock.now())
                self._update_pace()
                delay = self.pace.monitor_seconds
                if self.work.runs_strategy:
                    delay = min(delay, max(next_strategy - self.clock.now(), 0.0))
            except StopRequested:
                return  # the bot is stopping: nothing more was sent; an order already sent is settled next start
            except AuthenticationError as error:
                self.stopped_reason = describe_error(error)
                log.error("authentication refused: %s; this account stops (others go on)", error)
                record = self.health.stopped(self.stopped_reason, self.clock.now())
                self._publish(record)
                if self._on_auth_failure is not None:
                    self._on_auth_failure(self.account, error)
                return
            except Exception as error:  # any failure stays in this account: health, traceback, back-off
                if self.stop_event.is_set():  # a call cut at the stop's deadline: not this account's failure
                    log.info("pass ended by the stop (%s)", describe_error(error))
                    return
                record = self.health.error(error, self.clock.now())
                delay = self.backoff.delay(record.consecutive_errors)
                log.exception(
                    "pass failed (%d in a row, %s); next try in %.0f s",
                    record.consecutive_errors, record.status, delay,
                )
            self.passes += 1
            self._publish(record)
            if self._wait(delay):
                return

    def _update_pace(self) -> None:
        pace = pace_for(self.work.equity(), self.settings)
        if pace != self.pace:
            log.info("pace %s: orders %s apart, exits checked every %s", pace.profile,
                     describe_seconds(pace.order_spacing_seconds, self.clock),
                     describe_seconds(pace.monitor_seconds, self.clock))
            self.pace = pace
        if self._on_pace is not None:
            self._on_pace(pace)

    def _publish(self, record: HealthRecord) -> None:
        if self._on_health is None:
            return
        try:
            self._on_health(record)
        except Exception:  # a store hiccup must not kill the trading loop
            log.exception("could not save health")
