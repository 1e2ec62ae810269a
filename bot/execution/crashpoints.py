"""Named crash points between the ledger's writes, so tests can kill the bot exactly there.

A test sets ``NIJA_CRASH_AT`` in the bot's environment; nothing else ever does. Its form is
``POINT[@PURPOSE][:N]``: kill the process (SIGKILL, as ``kill -9`` would: no clean-up, no flush)
the N-th time (default 1) the code passes ``POINT`` for an order of that purpose (default any).
Example: ``NIJA_CRASH_AT=order_answered@exit:2`` dies after the exchange answered the second exit
order, before a byte of that answer is written.

The points (each sits between two writes; the ledger's module docstring gives the recovery of each):
"""

from __future__ import annotations

import os
import signal
import threading

ENV_VAR = "NIJA_CRASH_AT"

#: every named point; tests parametrize over this tuple, so a point added here is tested
CRASH_POINTS: tuple[str, ...] = (
    "intent_written",  # the order's intent row committed (bot/execution/ledger.py); nothing sent yet
    "order_answered",  # the exchange answered the order; nothing of the answer written yet
    "settle_answered",  # a look-up answered for an in-flight order; nothing of it written yet
    "fill_booked",  # order final + fill + position (+ a master's signal and outbox rows) committed together
    "copy_planned",  # a copy's intent and its outbox row turned sent, one commit (right after intent_written)
    "copy_finished",  # a follower's copy reached its final state (bot/copy/dispatcher.py); others may be open
)

#: order purposes a point can be narrowed to
PURPOSES: tuple[str, ...] = ("entry", "exit", "copy_entry", "copy_exit", "guard_exit")


class _Trigger:
    """The parsed ``NIJA_CRASH_AT``; counts passes under a lock (copies run on several threads)."""

    def __init__(self, spec: str) -> None:
        where, _, count = spec.partition(":")
        point, _, purpose = where.partition("@")
        if point not in CRASH_POINTS:
            raise ValueError(f"{ENV_VAR}={spec!r}: unknown point {point!r}; expected one of {', '.join(CRASH_POINTS)}")
        if purpose and purpose not in PURPOSES:
            raise ValueError(f"{ENV_VAR}={spec!r}: unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
        self.point = point
        self.purpose = purpose or None
        self.nth = int(count) if count else 1
        self._passes = 0
        self._lock = threading.Lock()

    def hit(self, point: str, purpose: str | None) -> bool:
        if point != self.point or (self.purpose is not None and purpose != self.purpose):
            return False
        with self._lock:
            self._passes += 1
            return self._passes == self.nth


_trigger: _Trigger | None = None
_loaded = False
_load_lock = threading.Lock()


def _current() -> _Trigger | None:
    global _trigger, _loaded
    if not _loaded:
        with _load_lock:
            if not _loaded:
                spec = os.environ.get(ENV_VAR, "").strip()
                _trigger = _Trigger(spec) if spec else None
                _loaded = True
    return _trigger


def crash_point(point: str, purpose: str | None = None) -> None:
    """Die here when a test asked for it; a no-op (one attribute read) otherwise."""
    if point not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {point!r}")
    trigger = _current()
    if trigger is not None and trigger.hit(point, purpose):
        os.kill(os.getpid(), signal.SIGKILL)
