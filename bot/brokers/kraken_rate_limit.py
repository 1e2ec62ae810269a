"""Kraken's per-key call counter, mirrored on our side so the bot waits instead of being refused.

Kraken adds a cost per private call (2 for ledger and trade history, 0 for AddOrder/CancelOrder,
1 otherwise) and drains the counter at a steady rate; above the tier's ceiling it answers
EAPI:Rate limit exceeded. We keep the same counter per key and wait before a call that would
overflow it. The counter lives in the key's file beside its nonce (bot/brokers/kraken_nonce.py),
read and written under the same lock, so a restarted bot and a script run beside the bot see the
calls already counted instead of starting from zero.

The counter drains with whichever ran further since it was last written, the injected clock or
real (wall) time: real Kraken drains in real time, and a simulator running faster than real time
drains in its own time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from bot.brokers.kraken_nonce import KeyChannel
from bot.brokers.stopping import StopToken
from bot.clock import Clock

TIERS = {"Starter": (15.0, 0.33), "Intermediate": (20.0, 0.5), "Pro": (20.0, 1.0)}
COSTS = {"Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2}
FREE = {"AddOrder", "CancelOrder", "AddOrderBatch", "EditOrder", "CancelAll"}
log = logging.getLogger(__name__)

_SLICE_SECONDS = 0.05  # re-check this often while waiting, so a fast simulated clock releases us early
_SAY_WAITS_OVER_SECONDS = 1.0  # a wait this long is logged, so a slow account says why


def call_cost(method: str) -> int:
    return 0 if method in FREE else COSTS.get(method, 1)


class RateLimiter:
    """The tier's numbers; the counter itself is the held key's (KeyChannel.state)."""

    def __init__(self, clock: Clock, counter_max: float, decay_per_second: float, headroom: float = 0.0) -> None:
        self.clock = clock
        self.counter_max = counter_max
        self.headroom = headroom  # our clock and Kraken's see each call at slightly different instants
        self.decay = decay_per_second
        self.waited_seconds = 0.0  # real seconds this process spent waiting, for diagnostics and tests

    def counter(self, channel: KeyChannel) -> float:
        """The held key's counter now, drained for the time since it was written."""
        state = channel.state
        elapsed = max(self.clock.now() - state.counter_clock, time.time() - state.counter_wall, 0.0)
        return max(0.0, state.counter - elapsed * self.decay)

    def _store(self, channel: KeyChannel, counter: float) -> None:
        now_clock, now_wall = self.clock.now(), time.time()
        channel.update(replace(channel.state, counter=counter, counter_clock=now_clock, counter_wall=now_wall))

    def acquire(self, channel: KeyChannel, method: str, stop: StopToken) -> None:
        """Wait until the call fits under the ceiling, then count it; the stop ends the wait (StopRequested)."""
        cost = call_cost(method)
        if not cost:
            return
        started = time.monotonic()
        said = False
        try:
            while True:
                counter = self.counter(channel)
                excess = counter + cost - max(self.counter_max - self.headroom, float(cost))
                if excess <= 0:
                    break
                if not said and excess / self.decay > _SAY_WAITS_OVER_SECONDS:
                    log.info("waiting about %.0f s for Kraken's rate counter before %s", excess / self.decay, method)
                    said = True
                if stop.wait(min(excess / self.decay, _SLICE_SECONDS)):
                    stop.check(f"Kraken {method}")
            self._store(channel, counter + cost)
        finally:
            self.waited_seconds += time.monotonic() - started

    def refused(self, channel: KeyChannel) -> None:
        """Kraken said the counter is full: believe it."""
        self._store(channel, max(self.counter(channel), self.counter_max))
