"""Kraken nonces: strictly increasing per API key, never reused across restarts, one request at a time.

Each key has one KeyChannel per process and state directory, shared by every adapter using that
key: its lock is held across the whole private request (nonce chosen, request sent, answer read),
so requests reach Kraken in nonce order; different keys have different channels and never wait for
each other. The high-water mark is reserved on disk *ahead* of use (a block of `reserve` nonces),
so a crash or restart starts above anything that could have been sent, with one write per block.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from pathlib import Path

from bot.clock import Clock


def key_fingerprint(api_key: str) -> str:
    """A file-name-safe id for a key that reveals nothing of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class NonceStore:
    """The nonce counter of one key, persisted in `path` (JSON {"reserved": N})."""

    def __init__(self, path: Path, clock: Clock, reserve: int) -> None:
        self.path = path
        self.clock = clock
        self.reserve = reserve
        self._last = self._read()
        self._reserved = self._last

    def _read(self) -> int:
        try:
            return int(json.loads(self.path.read_text())["reserved"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError) as error:
            raise RuntimeError(
                f"{self.path}: unreadable Kraken nonce file ({error}); delete it to start over"
            ) from None

    def _write(self, reserved: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump({"reserved": reserved}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._reserved = reserved

    @property
    def last(self) -> int:
        return self._last

    def next(self) -> int:
        """The next nonce: microseconds of the clock, or one above the last, whichever is higher."""
        nonce = max(self._last + 1, int(self.clock.now() * 1_000_000))
        if nonce > self._reserved:
            self._write(nonce + self.reserve)
        self._last = nonce
        return nonce

    def jump(self, step: int) -> None:
        """After EAPI:Invalid nonce: something used a higher nonce on this key; move well past it."""
        self._last = max(self._last, int(self.clock.now() * 1_000_000)) + step
        if self._last > self._reserved:
            self._write(self._last + self.reserve)


class KeyChannel:
    """One API key's lock and nonce store (and rate limiter, attached by the adapter)."""

    def __init__(self, store: NonceStore) -> None:
        self.lock = threading.Lock()
        self.nonces = store
        self.limiter: object | None = None


_channels: weakref.WeakValueDictionary[tuple[str, str], KeyChannel] = weakref.WeakValueDictionary()
_channels_lock = threading.Lock()


def channel_for(api_key: str, state_dir: Path, clock: Clock, reserve: int) -> KeyChannel:
    """The process-wide channel of (key, state dir); a new one (re-read from disk) once no adapter holds it."""
    path = Path(state_dir) / "kraken" / f"nonce-{key_fingerprint(api_key)}.json"
    ident = (key_fingerprint(api_key), str(path.resolve()))
    with _channels_lock:
        channel = _channels.get(ident)
        if channel is None:
            channel = KeyChannel(NonceStore(path, clock, reserve))
            _channels[ident] = channel
        return channel
