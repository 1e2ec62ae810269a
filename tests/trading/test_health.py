"""Health over a window (issue 11, #5): failures that never come two in a row still make an account degraded,
refused exchange calls count even when the pass recovered, sustained failure is failed, and missing market
data is degraded with its fix; the record carries the figures behind the verdict."""

from __future__ import annotations

import threading

from bot.brokers.errors import ExchangeUnavailable, RateLimitError
from bot.brokers.telemetry import CallLog
from bot.config.sections.trader import TraderSettings
from bot.state.records import HealthStatus
from bot.trading.health import HealthTracker, Problem

SETTINGS = TraderSettings()  # the defaults: window 20, degraded over 20 %, failed at 80 %


def test_failures_that_never_come_in_a_row_make_the_account_degraded() -> None:
    tracker = HealthTracker("kraken", "master", SETTINGS)
    record = None
    for i in range(54):  # the run: every other pass failed, never two in a row
        record = tracker.error(RateLimitError("EAPI:Rate limit exceeded"), float(i)) if i % 2 else tracker.success(i)
    assert record is not None and record.consecutive_errors == 1
    assert record.status is HealthStatus.DEGRADED
    assert (record.recent_passes, record.recent_failed_passes) == (20, 10)
    assert record.reason.startswith("10 of the last 20 passes failed (50%); last: RateLimitError")
    assert "KRAKEN_RATE_TIER" in record.fix


def test_refused_calls_count_even_when_every_pass_recovered() -> None:
    calls = CallLog("kraken")
    tracker = HealthTracker("kraken", "master", SETTINGS, calls=calls.counts)
    record = None
    for i in range(10):
        for _ in range(4):
            calls.record("BalanceEx", 0.01, "ok")
        calls.record("BalanceEx", 0.01, "rate_limited", "EAPI:Rate limit exceeded")
        calls.record("BalanceEx", 0.01, "rate_limited", "EAPI:Rate limit exceeded")
        record = tracker.success(float(i))  # the adapter's retry saved the pass, the refusals still happened
    assert record is not None and record.recent_failed_passes == 0
    assert (record.recent_calls, record.recent_failed_calls) == (60, 20)
    assert record.status is HealthStatus.DEGRADED
    assert record.reason == ("20 of 60 exchange calls in the last 10 passes failed (33%); "
                             "last: BalanceEx: EAPI:Rate limit exceeded")


def test_sustained_failure_is_failed_even_with_a_success_now_and_then() -> None:
    tracker = HealthTracker("kraken", "master", SETTINGS)
    record = None
    for i in range(20):
        record = tracker.success(float(i)) if i % 5 == 0 else tracker.error(ExchangeUnavailable("down"), float(i))
    assert record is not None and record.consecutive_errors == 4  # never 10 in a row
    assert record.status is HealthStatus.FAILED and record.reason.startswith("16 of the last 20 passes failed")


def test_missing_market_data_is_degraded_with_its_fix_and_a_few_failures_are_healthy() -> None:
    problem: list[Problem | None] = [None]
    tracker = HealthTracker("kraken", "master", SETTINGS, problem=lambda: problem[0])
    for i in range(19):
        tracker.success(float(i))
    record = tracker.error(ExchangeUnavailable("one blip"), 19.0)
    assert record.status is HealthStatus.HEALTHY and record.recent_failed_passes == 1  # 1 of 20: within 20 %
    problem[0] = Problem("no usable candles for 6 of 6 markets", "set this machine's clock right")
    record = tracker.success(20.0)
    assert (record.status, record.reason, record.fix) == (
        HealthStatus.DEGRADED, "no usable candles for 6 of 6 markets", "set this machine's clock right")


def test_market_data_is_asked_only_when_the_passes_are_healthy_and_outside_the_lock() -> None:
    """The market-data check may call the exchange: never while failing passes already decide the verdict,
    and never holding the lock that readers of the snapshot take."""
    asked: list[bool] = []  # per ask: could another thread read the snapshot meanwhile
    tracker: HealthTracker

    def problem() -> Problem | None:
        reader = threading.Thread(target=tracker.snapshot, daemon=True)
        reader.start()
        reader.join(timeout=5.0)
        asked.append(not reader.is_alive())
        return None

    tracker = HealthTracker("kraken", "master", TraderSettings(degraded_after_errors=2, failed_after_errors=4),
                            problem=problem)
    tracker.success(0.0)
    assert asked == [True]
    tracker.error(ExchangeUnavailable("down"), 1.0)  # one failure in 2 passes: over 20 % but under min samples
    tracker.error(ExchangeUnavailable("down"), 2.0)
    record = tracker.error(ExchangeUnavailable("down"), 3.0)
    assert record.status is HealthStatus.DEGRADED
    assert len(asked) == 2  # the second error is already degraded (2 in a row): market data is not asked
