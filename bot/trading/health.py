"""Health of one account (docs/rules.md §3): healthy, degraded or failed, over a window of recent passes.

Counting only failures in a row let an account that failed every other pass stay "healthy" forever.
The verdict looks at the last HEALTH_WINDOW_PASSES passes and the exchange calls made during them
(the adapter's call log, bot/brokers/telemetry.py), consecutive or not:

- failed: FAILED_AFTER_ERRORS passes in a row failed, or at least HEALTH_FAILED_SHARE of a full
  window did (sustained failure);
- degraded: DEGRADED_AFTER_ERRORS passes in a row failed, or more than HEALTH_DEGRADED_SHARE of the
  recent passes or of the recent exchange calls failed (once the window holds HEALTH_MIN_SAMPLES),
  or the account's market data is missing or stale (bot/trading/market_data.py);
- healthy otherwise.

The record carries the figures behind the verdict (recent passes and calls, how many failed), its
reason in words and what fixes it, so `status` can show why. One tracker per worker, written only by
its own thread; the lock lets the trader read a consistent snapshot.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.brokers.telemetry import CallCounts
from bot.config.sections.trader import TraderSettings
from bot.state.records import HealthRecord, HealthStatus

_MAX_ERROR_TEXT = 300  # one line in the status table, not a whole traceback


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """Something wrong besides failing passes (market data): the reason in words and what fixes it."""

    reason: str
    fix: str


def fix_for(last_error: str) -> str:
    """What to do about the failures, from the last one."""
    if "RateLimit" in last_error or "Rate limit" in last_error:
        return ("the exchange is refusing calls for their rate: set KRAKEN_RATE_TIER to your account's real tier, "
                "or raise MONITOR_SECONDS / STRATEGY_CYCLE_SECONDS so the account calls less often")
    if "Nonce" in last_error or "nonce" in last_error:
        return ("something else uses this API key (another bot or program): give each program its own key, "
                "or one NIJA_STATE_DIR for every NIJA process on it")
    if "Unavailable" in last_error or "timed out" in last_error or "Timeout" in last_error:
        return "the exchange is slow or unreachable: check the network and the exchange's status page; it retries"
    return "see the last error; the account retries with back-off"


class HealthTracker:
    """Cycles, successes, the recent window of passes and calls, and the verdict of one account."""

    def __init__(
        self, broker: str, account_id: str, settings: TraderSettings, *,
        calls: Callable[[], CallCounts] | None = None, problem: Callable[[], Problem | None] | None = None,
    ) -> None:
        """calls: the adapter's call totals (its CallLog.counts); problem: the account's market-data trouble now."""
        self._settings = settings
        self._calls = calls
        self._problem = problem
        self._lock = threading.Lock()
        self._record = HealthRecord(broker=broker, account_id=account_id)
        window = settings.health_window_passes
        self._passes: deque[bool] = deque(maxlen=window)  # True: the pass failed
        self._pass_calls: deque[tuple[int, int]] = deque(maxlen=window)  # (calls, failed) made during each pass
        self._seen = calls() if calls is not None else CallCounts()
        self._last_call_failure = ""

    # ---- what happened -------------------------------------------------------------------------
    def success(self, now: float) -> HealthRecord:
        with self._lock:
            r = self._record
            record = self._judge(replace(r, cycles=r.cycles + 1, successes=r.successes + 1, consecutive_errors=0,
                                         last_cycle_at=now), failed=False)
        return self._commit(record)

    def error(self, error: BaseException, now: float) -> HealthRecord:
        with self._lock:
            r = self._record
            record = self._judge(replace(r, cycles=r.cycles + 1, consecutive_errors=r.consecutive_errors + 1,
                                         last_error=describe_error(error), last_cycle_at=now), failed=True)
        return self._commit(record)

    def stopped(self, reason: str, now: float) -> HealthRecord:
        """The account cannot go on (authentication refused): failed at once, with the reason."""
        with self._lock:
            r = self._record
            self._record = replace(
                r, consecutive_errors=r.consecutive_errors + 1, status=HealthStatus.FAILED, last_error=reason,
                last_cycle_at=now, reason=f"stopped: {reason}", fix="fix the account's API key; the others go on",
            )
            return self._record

    def snapshot(self) -> HealthRecord:
        with self._lock:
            return self._record

    # ---- the verdict ------------------------------------------------------------------------------
    def _sample_calls(self) -> None:
        if self._calls is None:
            self._pass_calls.append((0, 0))
            return
        now = self._calls()
        self._pass_calls.append((now.calls - self._seen.calls, now.failed - self._seen.failed))
        if now.failed > self._seen.failed:
            self._last_call_failure = now.last_failure
        self._seen = now

    def _judge(self, record: HealthRecord, *, failed: bool) -> HealthRecord:
        """The verdict from the passes and calls alone (market data is asked in _commit, only when healthy)."""
        self._passes.append(failed)
        self._sample_calls()
        s = self._settings
        passes, failed_passes = len(self._passes), sum(self._passes)
        calls = sum(c for c, _ in self._pass_calls)
        failed_calls = sum(f for _, f in self._pass_calls)
        pass_share = failed_passes / passes if passes else 0.0
        call_share = failed_calls / calls if calls else 0.0
        last_failure = record.last_error if failed_passes else self._last_call_failure
        status, reason, fix = HealthStatus.HEALTHY, "", ""
        if record.consecutive_errors >= s.failed_after_errors:
            status, reason = HealthStatus.FAILED, f"{record.consecutive_errors} passes in a row failed"
        elif passes >= s.health_window_passes and pass_share >= s.health_failed_share:
            status, reason = HealthStatus.FAILED, f"{failed_passes} of the last {passes} passes failed"
        elif record.consecutive_errors >= s.degraded_after_errors:
            status, reason = HealthStatus.DEGRADED, f"{record.consecutive_errors} passes in a row failed"
        elif passes >= s.health_min_samples and pass_share > s.health_degraded_share:
            status, reason = (HealthStatus.DEGRADED,
                              f"{failed_passes} of the last {passes} passes failed ({pass_share:.0%})")
        elif calls >= s.health_min_samples and call_share > s.health_degraded_share:
            status, reason = (HealthStatus.DEGRADED, f"{failed_calls} of {calls} exchange calls in the last "
                              f"{passes} passes failed ({call_share:.0%})")
            last_failure = self._last_call_failure
        if status is not HealthStatus.HEALTHY:
            if last_failure:
                reason = f"{reason}; last: {last_failure}"
            fix = fix_for(last_failure)
        return replace(
            record, status=status, reason=reason, fix=fix, recent_passes=passes, recent_failed_passes=failed_passes,
            recent_calls=calls, recent_failed_calls=failed_calls,
        )

    def _commit(self, record: HealthRecord) -> HealthRecord:
        """Store the verdict, asking about market data only when it would be healthy.

        The market-data check may call the exchange (its clock, the market list): it runs outside the lock, so
        readers of the snapshot never wait on the network, and not at all when the passes already say failed or
        degraded. Only this tracker's own thread writes the record, so nothing changes it meanwhile.
        """
        if record.status is HealthStatus.HEALTHY and self._problem is not None:
            problem = self._problem()
            if problem is not None:
                record = replace(record, status=HealthStatus.DEGRADED, reason=problem.reason, fix=problem.fix)
        with self._lock:
            self._record = record
        return record
