"""SIGINT and SIGTERM become one stop request for `run`, from its first moment (docs/rules.md §3).

Python's default turns Ctrl-C into a KeyboardInterrupt wherever the main thread happens to be (an
import, a half-written file, a lock) and SIGTERM kills the process outright. `run` takes both over
before it imports anything heavy (bot/cli.py), so a signal at any moment, start-up included, only
sets the stop event: start-up checks it between its steps, the trader's threads and every wait
inside the adapters watch it, and the process ends with exit code 0 and no traceback. A second
signal while stopping only says that the stop is under way.

How: the two signals are blocked (``pthread_sigmask``) before any thread exists, so every thread
started later inherits the block, and one thread takes them with ``sigwait``. A Python-level handler
would run only on the main thread, and only once the main thread runs again: the kernel may hand a
process's signal to any thread, and a main thread asleep in a long wait (the supervisor's re-check
interval) did not wake for minutes. Where the OS has no sigwait, plain handlers are the fallback.

Standard library only: this module is imported before the settings, pandas or the SDKs.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_SIGWAIT = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwait") and hasattr(signal, "pthread_kill")


class StopSignals:
    """The process's stop request: an event set by the first SIGINT/SIGTERM."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}
        self._forwards: list[threading.Event] = []
        self._installed = False
        self._mask: set[signal.Signals] | None = None  # the mask before the block, restored at the end
        self._waiter: threading.Thread | None = None
        self._closing = False

    def forward_to(self, event: threading.Event) -> None:
        """Set `event` too on a signal (at once when one came already): the run's own stop event."""
        self._forwards.append(event)
        if self.event.is_set():
            event.set()

    def install(self) -> bool:
        """Take over SIGINT and SIGTERM (main thread only; elsewhere Python does not allow it): True when done."""
        if threading.current_thread() is not threading.main_thread() or self._installed:
            return self._installed
        if _SIGWAIT:
            self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
            self._closing = False
            self._waiter = threading.Thread(target=self._take_signals, name="stop-signals", daemon=True)
            self._waiter.start()
        else:
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        self._installed = True
        return True

    def _take_signals(self) -> None:
        while True:
            signum = signal.sigwait(_SIGNALS)
            if self._closing:
                return
            self._handle(signum, None)

    def restore(self) -> None:
        """Give the signals back to their previous handling (the next run installs them afresh)."""
        if not self._installed:
            return
        if self._waiter is not None and self._waiter.ident is not None:
            self._closing = True
            signal.pthread_kill(self._waiter.ident, signal.SIGTERM)  # blocked there: its sigwait takes it and ends
            self._waiter.join(5)
            self._waiter = None
        if self._mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
            self._mask = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        self._installed = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.event.is_set():
            self.event.set()
            for event in self._forwards:
                event.set()
            _write(f"nija: {name} received: stopping\n")
        else:
            _write(f"nija: {name} received again: already stopping\n")


def _write(text: str) -> None:
    """One line to stderr, unbuffered: a print() the main thread was in the middle of would raise 'reentrant
    call' from a buffered stream (when a plain handler runs on the main thread)."""
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
    """The stop request already installed (by bot/cli.py), or None: its installer is the one who releases it."""
    return _installed


def release_stop_signals() -> None:
    """The run is over: the previous handlers come back and the next run starts with a fresh request."""
    global _installed
    if _installed is not None:
        _installed.restore()
        _installed = None
