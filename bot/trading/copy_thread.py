"""The thread that runs one brokerage's copy dispatcher: woken by every booked master signal, and on a timer
for retries and look-ups. It only orchestrates; the dispatcher and the ledger do the work.

Tests driving a ManualClock ask it, like an account's worker, whether it is idle until a future time
(``wait_idle``/``due_at``); a wake marks it busy at once, so a signal booked on the master's thread is
never mistaken for an idle dispatcher.
"""

from __future__ import annotations

import logging
import threading

from bot.clock import Clock
from bot.copy.dispatcher import CopyDispatcher

log = logging.getLogger(__name__)

#: clock seconds an idle dispatcher waits when nothing is due (a wake cuts it short)
IDLE_SECONDS = 3600.0


class CopyThread(threading.Thread):
    """Runs ``dispatcher.run_due`` whenever woken or due, until stopped."""

    def __init__(self, dispatcher: CopyDispatcher, clock: Clock, *, error_wait_seconds: float = 5.0) -> None:
        super().__init__(name=f"copy:{dispatcher.broker_name}", daemon=True)
        self.dispatcher = dispatcher
        self.broker_name = dispatcher.broker_name
        self.clock = clock
        self.error_wait_seconds = error_wait_seconds
        self._event = threading.Event()
        self._state = threading.Condition()
        self._busy = True
        self._waiting_until: float | None = None
        self._stopping = False
        self.finished = False
        self.rounds = 0

    def wake(self, *_: object) -> None:
        """Something is due now (a signal was booked); safe from any thread."""
        with self._state:
            self._busy = True
            self._event.set()
            self._state.notify_all()

    def stop(self) -> None:
        with self._state:
            self._stopping = True
            self._event.set()

    def run(self) -> None:
        try:
            while not self._stopping:
                self._event.clear()
                try:
                    due = self.dispatcher.run_due()
                except Exception:  # the outbox is durable: a failed round is simply run again
                    log.exception("copy dispatcher round failed; next round in %.0f s", self.error_wait_seconds)
                    due = self.clock.now() + self.error_wait_seconds
                self.rounds += 1
                self._wait(IDLE_SECONDS if due is None else due - self.clock.now())
        finally:
            with self._state:
                self.finished = True
                self._busy = False
                self._state.notify_all()

    def _wait(self, seconds: float) -> None:
        with self._state:
            if self._event.is_set():
                return
            self._busy = False
            self._waiting_until = self.clock.now() + max(seconds, 0.0)
            self._state.notify_all()
        try:
            self.clock.wait(seconds, self._event)
        finally:
            with self._state:
                self._busy = True
                self._waiting_until = None

    def due_at(self) -> float | None:
        """The clock time this thread waits for, or None while it works."""
        with self._state:
            return None if self._busy else self._waiting_until

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (real time) until the thread waits for a future time with nothing to do, or has finished."""
        def idle() -> bool:
            if self.finished:
                return True
            return not self._busy and self._waiting_until is not None and self._waiting_until > self.clock.now()

        with self._state:
            return self._state.wait_for(idle, timeout)
