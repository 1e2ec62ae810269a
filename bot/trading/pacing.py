"""Pacing by capital, as the old bot's Kraken rate profiles did: small accounts never spend their API budget.

Under LOW_CAPITAL_EQUITY an account waits at least LOW_CAPITAL_ORDER_SPACING_SECONDS between order
actions and monitors its exits every LOW_CAPITAL_MONITOR_SECONDS; larger accounts use the faster
ORDER_SPACING_SECONDS / MONITOR_SECONDS. The strategy cycle is the same for every account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.config.sections.trader import TraderSettings

LOW_CAPITAL = "low-capital"
STANDARD = "standard"


@dataclass(frozen=True)
class Pace:
    profile: str
    order_spacing_seconds: float
    monitor_seconds: float
    strategy_cycle_seconds: float


def pace_for(equity: float, s: TraderSettings) -> Pace:
    if equity < s.low_capital_equity:
        return Pace(LOW_CAPITAL, s.low_capital_order_spacing_seconds, s.low_capital_monitor_seconds,
                    s.strategy_cycle_seconds)
    return Pace(STANDARD, s.order_spacing_seconds, s.monitor_seconds, s.strategy_cycle_seconds)


class OrderPacer:
    """Spaces one account's order actions (place, cancel) by its pace, and says when no order may start at all.

    The one question every order path asks before it sends (docs/rules.md §3): ``wait_turn()`` returns
    False once the bot is stopping, whether or not a wait was needed, and after a wait the stop
    interrupted; the caller then sends nothing. ``stopping`` answers the same without waiting.
    """

    def __init__(
        self, clock: Clock, wait: Callable[[float], bool], spacing_seconds: float = 0.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.clock = clock
        self._wait = wait  # the thread's Waiter.wait: returns True when the bot is stopping
        self.spacing_seconds = spacing_seconds
        self._stop = stop
        self._last: float | None = None

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def wait_turn(self) -> bool:
        """Wait until the next order action is allowed; False when the bot is stopping (send nothing)."""
        if self.stopping:
            return False
        if self._last is not None:
            remaining = self._last + self.spacing_seconds - self.clock.now()
            if remaining > 0 and self._wait(remaining):
                return False
        if self.stopping:
            return False
        self._last = self.clock.now()
        return True
