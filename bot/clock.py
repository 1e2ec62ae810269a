"""Injectable time: real time in live trading, simulated time in paper mode, a manual clock in tests.

Threads never call time.sleep for pacing; they call ``clock.wait(seconds, stop_event)`` so a
shutdown interrupts them at once and tests can advance time without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


def describe_seconds(seconds: float, clock: object) -> str:
    """A duration as a person should read it: "150 s", or on a sped-up paper clock "150 simulated s (0.25 s real)"."""
    speed = getattr(clock, "speed", None)
    if not isinstance(speed, int | float) or speed in (0, 1) or seconds == 0:
        return f"{seconds:g} s"
    return f"{seconds:g} simulated s ({seconds / speed:.3g} s real)"


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds in this clock's time."""
        ...

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait `seconds` of this clock's time; return True at once if `stop` is set."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is None:
            time.sleep(max(0.0, seconds))
            return False
        return stop.wait(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when a test calls advance(); waiters wake when their time comes."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def set(self, when: float) -> None:
        with self._changed:
            self._now = when
            self._changed.notify_all()

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        with self._changed:
            deadline = self._now + max(0.0, seconds)
            while self._now < deadline:
                if stop is not None and stop.is_set():
                    return True
                # Short real-time poll only so a stop event (which cannot notify us) is seen.
                self._changed.wait(0.05)
            return bool(stop is not None and stop.is_set())


def utc_text(seconds: float) -> str:
    """A moment for people: '2026-11-29 14:03:07 UTC'."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_since(text: str | None) -> float | None:
    """A lower time bound as people and scripts write it -> unix seconds: '2026-11-29', an ISO date-time (UTC
    unless it says otherwise) or unix seconds; None or '' is no bound. ValueError: one line saying what was expected
    (`trades --since` and the API's ?since= both read it)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r}: expected a date like 2026-11-29, an ISO date-time like 2026-11-29T14:00 "
                             "or unix seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def age_text(seconds: float) -> str:
    """How long ago, for people: '12 s ago', '7 min ago', '3.5 h ago', '2.0 days ago'."""
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86_400:.1f} days ago"
