"""Health of one account's thread (docs/rules.md §3): healthy / degraded / failed from consecutive errors.

One tracker per worker, written only by its own thread; the lock lets the trader read a
consistent snapshot for the status table and the final summary.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from bot.config.sections.trader import TraderSettings
from bot.state.records import HealthRecord, HealthStatus

_MAX_ERROR_TEXT = 300  # one line in the status table, not a whole traceback


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."


class HealthTracker:
    """Cycles, successes, consecutive errors and the last error of one account."""

    def __init__(self, broker: str, account_id: str, settings: TraderSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._record = HealthRecord(broker=broker, account_id=account_id)

    def _status(self, consecutive_errors: int) -> HealthStatus:
        if consecutive_errors >= self._settings.failed_after_errors:
            return HealthStatus.FAILED
        if consecutive_errors >= self._settings.degraded_after_errors:
            return HealthStatus.DEGRADED
        return HealthStatus.HEALTHY

    def success(self, now: float) -> HealthRecord:
        with self._lock:
            r = self._record
            self._record = replace(
                r, cycles=r.cycles + 1, successes=r.successes + 1, consecutive_errors=0,
                status=HealthStatus.HEALTHY, last_cycle_at=now,
            )
            return self._record

    def error(self, error: BaseException, now: float) -> HealthRecord:
        with self._lock:
            r = self._record
            errors = r.consecutive_errors + 1
            self._record = replace(
                r, cycles=r.cycles + 1, consecutive_errors=errors, status=self._status(errors),
                last_error=describe_error(error), last_cycle_at=now,
            )
            return self._record

    def stopped(self, reason: str, now: float) -> HealthRecord:
        """The account cannot go on (authentication refused): failed at once, with the reason."""
        with self._lock:
            r = self._record
            self._record = replace(
                r, consecutive_errors=r.consecutive_errors + 1, status=HealthStatus.FAILED,
                last_error=reason, last_cycle_at=now,
            )
            return self._record

    def snapshot(self) -> HealthRecord:
        with self._lock:
            return self._record
