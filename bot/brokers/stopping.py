"""The bot's stop request as the brokers layer sees it (docs/rules.md §3, "SIGINT/SIGTERM").

Every adapter owns one StopToken. The trader points it at its stop event (``follow``); from the
moment that event is set no new exchange call or order starts (``check`` raises StopRequested) and
every wait inside the adapter (rate limiter, order look-up delays, the per-key lock of another
process) ends at once. An order already sent is not abandoned: its outcome is settled or it is left
in flight, and the next start looks it up by client order id.

A call already on the wire when the stop's deadline comes can be cut (``abort``): each transport
registers how to shut its connections, so a hung exchange cannot hold a thread past the deadline.
A cut order is in flight like any order whose answer was lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.brokers.errors import StopRequested
from bot.clock import Clock

log = logging.getLogger(__name__)


class StopToken:
    """A stop event one layer down: adapters that captured the token keep seeing whatever event it follows."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self._event = event if event is not None else threading.Event()
        self._aborts: list[Callable[[], int]] = []

    def follow(self, event: threading.Event) -> None:
        """Obey this event from now on: the trader's stop event, or a clear one for the closing reads."""
        self._event = event

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self, what: str) -> None:
        """Raise StopRequested when stopping: `what` (an exchange call, an order) is then not started."""
        if self._event.is_set():
            raise StopRequested(f"{what} not sent: the bot is stopping")

    def wait(self, seconds: float, clock: Clock | None = None) -> bool:
        """Wait `seconds` (of `clock`'s time, else real time); True at once when stopping."""
        if clock is not None:
            return clock.wait(seconds, self._event)
        return self._event.wait(max(seconds, 0.0))

    def add_abort(self, abort: Callable[[], int]) -> None:
        """Register how to cut this adapter's connections (returns how many were cut)."""
        self._aborts.append(abort)

    def abort(self) -> int:
        """Cut every connection of this adapter, calls in progress included; how many were cut."""
        cut = 0
        for abort in self._aborts:
            try:
                cut += abort()
            except OSError as error:  # a socket already gone: nothing left to cut
                log.debug("cutting connections: %s", error)
        return cut
