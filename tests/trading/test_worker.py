"""The worker loop: cadence of strategy and monitoring passes, back-off, auth stop, clean stop, pacing."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from bot.brokers.errors import AuthenticationError, ExchangeUnavailable, StopRequested
from bot.clock import ManualClock, SystemClock
from bot.config.accounts import AccountConfig, Role
from bot.config.sections.trader import TraderSettings
from bot.state.records import HealthRecord, HealthStatus
from bot.trading.backoff import Backoff
from bot.trading.health import HealthTracker
from bot.trading.pacing import LOW_CAPITAL, STANDARD, OrderPacer, pace_for
from bot.trading.worker import AccountWorker, Waiter

START = 1_750_000_000.0
ACCOUNT = AccountConfig(broker="kraken", account_id="master", role=Role.MASTER, display_name="Kraken master")


class ScriptedWork:
    """Stands in for the exchange-facing work: records when each pass ran and fails as scripted."""

    def __init__(self, clock: ManualClock | SystemClock, runs_strategy: bool = True, equity: float = 1000.0,
                 failures: list[BaseException | None] | None = None) -> None:
        self.clock = clock
        self.runs_strategy = runs_strategy
        self._equity = equity
        self.failures = list(failures or [])
        self.calls: list[tuple[str, float]] = []

    def equity(self) -> float:
        return self._equity

    def _pass(self, kind: str) -> None:
        self.calls.append((kind, self.clock.now() - START))
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure

    def strategy_pass(self) -> None:
        self._pass("strategy")

    def monitor_pass(self) -> None:
        self._pass("monitor")


def drive(clock: ManualClock, worker: AccountWorker, steps: int) -> None:
    """Step the manual clock to each time the worker waits for; no sleeping."""
    for _ in range(steps):
        assert worker.wait_idle(10.0), "worker never became idle"
        due = worker.waiter.due_at()
        if due is None:
            return
        clock.set(due)
    assert worker.wait_idle(10.0)


def make_worker(clock, work, settings: TraderSettings | None = None, **kwargs) -> AccountWorker:  # type: ignore[no-untyped-def]
    waiter = Waiter(clock, threading.Event())
    return AccountWorker(ACCOUNT, work, clock, waiter, settings or TraderSettings(), **kwargs)


def test_backoff_is_exponential_and_capped() -> None:
    b = Backoff(5.0, 60.0)
    assert [b.delay(n) for n in range(0, 7)] == [0.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert b.delay(10_000) == 60.0


def test_health_goes_degraded_then_failed_and_recovers() -> None:
    t = HealthTracker("kraken", "master", TraderSettings(degraded_after_errors=2, failed_after_errors=4))
    statuses = [t.error(ExchangeUnavailable("down"), float(i)).status for i in range(4)]
    assert statuses == [HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DEGRADED, HealthStatus.FAILED]
    assert "ExchangeUnavailable: down" in t.snapshot().last_error
    ok = t.success(10.0)
    assert (ok.consecutive_errors, ok.cycles, ok.successes) == (0, 5, 1)
    assert ok.status is HealthStatus.DEGRADED and ok.reason.startswith("4 of the last 5 passes failed (80%)")
    for i in range(14):
        ok = t.success(11.0 + i)
    assert ok.status is HealthStatus.DEGRADED  # 4 of the last 19 passes failed: 21 %
    ok = t.success(30.0)
    assert (ok.status, ok.recent_passes, ok.recent_failed_passes) == (HealthStatus.HEALTHY, 20, 4)  # 20 %: not over


def test_pacing_by_capital_uses_the_settings() -> None:
    s = TraderSettings()
    low, high = pace_for(99.99, s), pace_for(100.0, s)
    assert (low.profile, low.order_spacing_seconds, low.monitor_seconds) == (LOW_CAPITAL, 3.0, 30.0)
    assert (high.profile, high.order_spacing_seconds, high.monitor_seconds) == (STANDARD, 1.0, 15.0)
    custom = TraderSettings(low_capital_equity=500, low_capital_monitor_seconds=45, monitor_seconds=5)
    assert pace_for(400, custom).monitor_seconds == 45 and pace_for(600, custom).monitor_seconds == 5


def test_order_pacer_spaces_order_actions_on_the_clock() -> None:
    clock = ManualClock(START)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds)
        return False

    pacer = OrderPacer(clock, wait, spacing_seconds=3.0)
    assert pacer.wait_turn() and pacer.wait_turn()
    clock.advance(1.0)
    assert pacer.wait_turn()
    clock.advance(10.0)
    assert pacer.wait_turn()
    assert waits == [3.0, 2.0]
    assert OrderPacer(clock, lambda s: True, 3.0).wait_turn()  # first action never waits
    stopping = OrderPacer(clock, lambda s: True, 3.0)
    stopping.wait_turn()
    assert not stopping.wait_turn()  # a stop during the wait: no order


def test_strategy_cycle_with_faster_monitoring_passes_in_between() -> None:
    clock = ManualClock(START)
    work = ScriptedWork(clock)
    worker = make_worker(clock, work, TraderSettings(strategy_cycle_seconds=60, monitor_seconds=15))
    worker.start()
    drive(clock, worker, 9)
    worker.stop_event.set()
    worker.join(5)
    assert work.calls[:9] == [
        ("strategy", 0), ("monitor", 15), ("monitor", 30), ("monitor", 45),
        ("strategy", 60), ("monitor", 75), ("monitor", 90), ("monitor", 105), ("strategy", 120),
    ]


def test_small_accounts_monitor_at_the_low_capital_pace() -> None:
    clock = ManualClock(START)
    work = ScriptedWork(clock, runs_strategy=False, equity=50.0)
    worker = make_worker(clock, work)
    worker.start()
    drive(clock, worker, 3)
    worker.stop_event.set()
    worker.join(5)
    assert [t for _, t in work.calls[:4]] == [0, 30, 60, 90]
    assert {kind for kind, _ in work.calls} == {"monitor"}  # followers run no strategy


def test_errors_back_off_exponentially_then_recover() -> None:
    clock = ManualClock(START)
    failures: list[BaseException | None] = [ExchangeUnavailable("503")] * 5 + [None]
    work = ScriptedWork(clock, runs_strategy=False, failures=failures)
    saved: list[HealthRecord] = []
    settings = TraderSettings(backoff_base_seconds=5, backoff_max_seconds=40, monitor_seconds=15,
                              degraded_after_errors=3, failed_after_errors=5)
    worker = make_worker(clock, work, settings, on_health=saved.append)
    worker.start()
    drive(clock, worker, 7)
    worker.stop_event.set()
    worker.join(5)
    times = [t for _, t in work.calls]
    assert [b - a for a, b in itertools.pairwise(times)][:6] == [5, 10, 20, 40, 40, 15]
    assert [r.status for r in saved[:6]] == [
        HealthStatus.HEALTHY, HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DEGRADED,
        HealthStatus.FAILED, HealthStatus.DEGRADED,  # recovered, but 5 of its last 6 passes failed
    ]
    assert saved[4].last_error == "ExchangeUnavailable: 503"
    assert saved[5].consecutive_errors == 0 and saved[5].reason.startswith("5 of the last 6 passes failed")


def test_authentication_failure_stops_only_this_account_with_its_reason() -> None:
    clock = ManualClock(START)
    work = ScriptedWork(clock, failures=[None, AuthenticationError("EAPI:Invalid key")])
    stopped: list[tuple[str, str]] = []
    worker = make_worker(clock, work, on_auth_failure=lambda acc, err: stopped.append((acc.label, str(err))))
    other = make_worker(clock, ScriptedWork(clock))
    worker.start()
    other.start()
    drive(clock, worker, 3)
    worker.join(5)
    assert not worker.is_alive()
    assert stopped == [("kraken:master", "EAPI:Invalid key")]
    health = worker.health.snapshot()
    assert health.status is HealthStatus.FAILED and "Invalid key" in health.last_error
    assert other.is_alive()  # the other account goes on
    other.stop_event.set()
    other.join(5)


def test_thread_is_named_after_broker_and_account() -> None:
    worker = make_worker(ManualClock(START), ScriptedWork(ManualClock(START)))
    assert worker.name == "kraken:master"


@pytest.mark.parametrize("first_wait", [0.0, 45.0])
def test_stop_interrupts_a_long_wait_at_once(first_wait: float) -> None:
    clock = SystemClock()
    work = ScriptedWork(clock, runs_strategy=False)  # type: ignore[arg-type]
    worker = make_worker(clock, work, TraderSettings(monitor_seconds=300), first_wait_seconds=first_wait)
    worker.start()
    assert worker.wait_idle(5.0)
    began = time.monotonic()
    worker.stop_event.set()
    worker.join(5.0)
    assert not worker.is_alive()
    assert time.monotonic() - began < 1.0
    assert len(work.calls) == (0 if first_wait else 1)


def test_no_order_action_starts_once_stopping_even_when_no_wait_is_due() -> None:
    clock = ManualClock(START)
    stop = threading.Event()
    pacer = OrderPacer(clock, lambda seconds: clock.wait(seconds, stop), spacing_seconds=0.0, stop=stop)
    assert pacer.wait_turn() and not pacer.stopping
    stop.set()
    assert pacer.stopping and not pacer.wait_turn()  # nothing to wait for, and still no order


class StoppedMidPass:
    """A pass during which the bot stops: the stop is requested, then the exchange call fails as a cut one does."""

    runs_strategy = False

    def __init__(self, stop: threading.Event, failure: BaseException) -> None:
        self.stop = stop
        self.failure = failure
        self.passes = 0

    def equity(self) -> float:
        return 1000.0

    def monitor_pass(self) -> None:
        self.passes += 1
        self.stop.set()
        raise self.failure

    strategy_pass = monitor_pass


@pytest.mark.parametrize("failure", [StopRequested("Kraken BalanceEx not sent: the bot is stopping"),
                                     ExchangeUnavailable("Kraken BalanceEx failed: ConnectionError")])
def test_a_pass_ended_by_the_stop_ends_the_thread_without_a_health_error(failure: BaseException) -> None:
    clock = ManualClock(START)
    stop = threading.Event()
    work = StoppedMidPass(stop, failure)
    published: list[HealthRecord] = []
    worker = AccountWorker(ACCOUNT, work, clock, Waiter(clock, stop), TraderSettings(), on_health=published.append)
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and work.passes == 1
    assert published == [] and worker.health.snapshot().consecutive_errors == 0
