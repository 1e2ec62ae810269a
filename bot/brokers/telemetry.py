"""Every exchange call of every adapter, reported as (broker, endpoint, seconds, outcome).

Listeners (Prometheus metrics, tests) register with ``add_listener``; each call of all three SDKs is
reported once it ends: Kraken from its adapter (which sees Kraken's error list inside an HTTP 200),
Coinbase and Alpaca from the timeout adapter mounted on their requests sessions. A listener must be
cheap and is never allowed to raise into the caller: an exception is logged once and swallowed.

Each adapter also keeps a CallLog of its own calls: the account's health (bot/trading/health.py)
reads how many of them failed recently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Outcomes: one small vocabulary for all three brokerages.
OK = "ok"
REFUSED = "refused"  # the exchange answered and refused this one request (an order, an unknown market): not a fault
RATE_LIMITED = "rate_limited"
AUTH_FAILED = "auth_failed"
NONCE = "nonce"
TIMEOUT = "timeout"
UNAVAILABLE = "unavailable"  # connection failure, HTTP 5xx, an answer that is not the API's
ERROR = "error"
FAILED_OUTCOMES = frozenset({RATE_LIMITED, AUTH_FAILED, NONCE, TIMEOUT, UNAVAILABLE, ERROR})

Listener = Callable[[str, str, float, str], None]

_listeners: tuple[Listener, ...] = ()
_listeners_lock = threading.Lock()
_complained: set[int] = set()


def add_listener(listener: Listener) -> None:
    """Call `listener(broker, endpoint, seconds, outcome)` after every exchange call from now on."""
    global _listeners
    with _listeners_lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def remove_listener(listener: Listener) -> None:
    global _listeners
    with _listeners_lock:
        _listeners = tuple(known for known in _listeners if known != listener)


def report(broker: str, endpoint: str, seconds: float, outcome: str) -> None:
    """Tell every listener about one call; a listener that raises is logged once and never reaches the caller."""
    for listener in _listeners:
        try:
            listener(broker, endpoint, seconds, outcome)
        except Exception:  # a metrics hiccup must never fail an exchange call
            if id(listener) not in _complained:
                _complained.add(id(listener))
                log.exception("exchange call listener %r failed; its later failures are not logged", listener)


def outcome_of_status(status: int) -> str:
    """The outcome of an HTTP answer by its status (for SDKs whose errors are HTTP statuses)."""
    if status < 400:
        return OK
    if status == 429:
        return RATE_LIMITED
    if status in (401, 403):
        return AUTH_FAILED
    if status >= 500:
        return UNAVAILABLE
    return REFUSED


@dataclass(frozen=True)
class CallCounts:
    """Totals since the adapter was made; the health tracker turns their differences into a window."""

    calls: int = 0
    failed: int = 0
    last_failure: str = ""


class CallLog:
    """One adapter's calls: counts them, reports each to the listeners. Thread-safe (copy fan-outs share it)."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self._lock = threading.Lock()
        self._calls = 0
        self._failed = 0
        self._last_failure = ""

    def record(self, endpoint: str, seconds: float, outcome: str, detail: str = "") -> None:
        failed = outcome in FAILED_OUTCOMES
        with self._lock:
            self._calls += 1
            if failed:
                self._failed += 1
                self._last_failure = f"{endpoint}: {detail or outcome}"
        report(self.broker, endpoint, seconds, outcome)

    def counts(self) -> CallCounts:
        with self._lock:
            return CallCounts(self._calls, self._failed, self._last_failure)
