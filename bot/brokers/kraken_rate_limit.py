"""Kraken's per-key call counter, mirrored on our side so the bot waits instead of being refused.

Kraken adds a cost per private call (2 for ledger and trade history, 0 for AddOrder/CancelOrder,
1 otherwise) and drains the counter at a steady rate; above the tier's ceiling it answers
EAPI:Rate limit exceeded. We keep the same counter per key and wait before a call that would
overflow it. The counter drains with whichever ran further, the injected clock or real time: real
Kraken drains in real time, and a simulator running faster than real time drains in its own time.
"""

from __future__ import annotations

import threading
import time

from bot.clock import Clock

TIERS = {"Starter": (15.0, 0.33), "Intermediate": (20.0, 0.5), "Pro": (20.0, 1.0)}
COSTS = {"Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2}
FREE = {"AddOrder", "CancelOrder", "AddOrderBatch", "EditOrder", "CancelAll"}
_SLICE_SECONDS = 0.05  # re-check this often while waiting, so a fast simulated clock releases us early


def call_cost(method: str) -> int:
    return 0 if method in FREE else COSTS.get(method, 1)


class RateLimiter:
    """Not thread-safe on purpose: it is used under the key's channel lock."""

    def __init__(self, clock: Clock, counter_max: float, decay_per_second: float, headroom: float = 0.0) -> None:
        self.clock = clock
        self.counter_max = counter_max
        self.headroom = headroom  # our clock and Kraken's see each call at slightly different instants
        self.decay = decay_per_second
        self.counter = 0.0
        self._stamp_clock = clock.now()
        self._stamp_real = time.monotonic()
        self.waited_seconds = 0.0  # real seconds spent waiting, for diagnostics and tests

    def _drain(self) -> None:
        now_clock, now_real = self.clock.now(), time.monotonic()
        elapsed = max(now_clock - self._stamp_clock, now_real - self._stamp_real, 0.0)
        self.counter = max(0.0, self.counter - elapsed * self.decay)
        self._stamp_clock, self._stamp_real = now_clock, now_real

    def acquire(self, method: str, stop: threading.Event | None = None) -> None:
        """Wait until the call fits under the ceiling, then count it."""
        cost = call_cost(method)
        if not cost:
            return
        started = time.monotonic()
        pause = stop or threading.Event()
        while True:
            self._drain()
            excess = self.counter + cost - max(self.counter_max - self.headroom, float(cost))
            if excess <= 0:
                break
            if pause.wait(min(excess / self.decay, _SLICE_SECONDS)):
                break
        self.counter += cost
        self.waited_seconds += time.monotonic() - started

    def refused(self) -> None:
        """Kraken said the counter is full: believe it."""
        self._drain()
        self.counter = max(self.counter, self.counter_max)
