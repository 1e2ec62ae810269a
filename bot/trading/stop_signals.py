"""SIGINT and SIGTERM become one stop request for `run`, from its first moment (docs/rules.md §3).

Python's default turns Ctrl-C into a KeyboardInterrupt wherever the main thread happens to be (an
import, a half-written file, a lock) and SIGTERM kills the process outright. `run` installs these
handlers before it imports anything heavy (bot/cli.py), so a signal at any moment, start-up
included, only sets the stop event: start-up checks it between its steps, the trader's threads and
every wait inside the adapters watch it, and the process ends with exit code 0 and no traceback.
A second signal while stopping only says that the stop is under way.

Standard library only: this module is imported before the settings, pandas or the SDKs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """The process's stop request: an event set by the first SIGINT/SIGTERM, with when and which."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: str = ""
        self.received_at: float | None = None  # time.monotonic() of the first signal
        self._previous: dict[int, Any] = {}
        self._forwards: list[threading.Event] = []

    def forward_to(self, event: threading.Event) -> None:
        """Set `event` too on a signal (at once when one came already): the run's own stop event."""
        self._forwards.append(event)
        if self.event.is_set():
            event.set()

    def install(self) -> bool:
        """Take over SIGINT and SIGTERM (main thread only; elsewhere Python does not allow it): True when done."""
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return bool(self._previous)
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.event.is_set():
            self.received, self.received_at = name, time.monotonic()
            self.event.set()
            for event in self._forwards:
                event.set()
            _write(f"nija: {name} received: stopping\n")
        else:
            _write(f"nija: {name} received again: already stopping\n")


def _write(text: str) -> None:
    """One line to stderr from inside a signal handler: os.write, because a print() the main thread was in the
    middle of would raise 'reentrant call' from a buffered stream."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass  # stderr closed: nothing to tell


_installed: StopSignals | None = None


def install_stop_signals() -> StopSignals:
    """The process-wide stop request, installed on first call (bot/cli.py calls it first thing for `run`)."""
    global _installed
    if _installed is None:
        _installed = StopSignals()
    _installed.install()
    return _installed


def installed_stop_signals() -> StopSignals | None:
    return _installed


def release_stop_signals() -> None:
    """The run is over: the previous handlers come back and the next run starts with a fresh request."""
    global _installed
    if _installed is not None:
        _installed.restore()
        _installed = None
