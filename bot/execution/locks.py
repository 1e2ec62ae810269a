"""One lock per account: everything that sends, settles or books an order of that account holds it.

A follower's copies (dispatcher pool threads), its guard (its own thread) and a settle pass can
then never interleave their look-ups, sends and bookings on one account; different accounts never
wait for each other.
"""

from __future__ import annotations

import threading

_locks: dict[tuple[str, str], threading.RLock] = {}
_guard = threading.Lock()


def account_lock(broker: str, account_id: str) -> threading.RLock:
    with _guard:
        lock = _locks.get((broker, account_id))
        if lock is None:
            lock = _locks[(broker, account_id)] = threading.RLock()
        return lock
