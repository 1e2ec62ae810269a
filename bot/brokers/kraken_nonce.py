"""Kraken nonces and rate counter of one API key, shared by every thread and every process using the key.

Kraken refuses a nonce that is not above the last one its key saw, so every private request on a key,
from any thread of the bot or from another process (a verify_*.py script run beside the bot), must
choose its nonce and reach Kraken in order. Each key has one file in the state directory
(``kraken/nonce-<fingerprint>.json``, mode 0600) and one KeyChannel per process. A private request
holds the channel (``hold``) from choosing its nonce until its answer is read: a thread lock inside
the process, then an OS lock on the file (``fcntl.flock``) across processes. Under that lock the file
is read afresh, so a nonce another process used a moment ago is always seen: nothing is cached
between requests.

The file holds (JSON, rewritten in place):
- ``last``: the last nonce sent, written before the request leaves (the page cache is shared by all
  processes, so no fsync is needed for them to see it);
- ``reserved``: a high-water mark written *ahead* of use and fsynced (a block of ``reserve`` nonces),
  so after a power loss, which can lose an unsynced ``last``, the key restarts above anything sent.
  ``boot`` records the machine's boot id: a file last written before the current boot is trusted
  only up to ``reserved``;
- ``counter``, ``counter_clock``, ``counter_wall``: Kraken's rate counter as we mirror it, with when
  it was last updated (bot/brokers/kraken_rate_limit.py), so a restarted bot, or a script beside
  it, does not start from an empty counter.

Old files (``{"reserved": N}`` only) are read as "everything up to N may have been used".
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bot.brokers.stopping import StopToken
from bot.clock import Clock
from bot.state.private import private_dir, private_file

FILE_SIZE = 256  # the JSON is padded to this size and rewritten in place: one pwrite, never a torn rename
_POLL_SECONDS = 0.005  # how often a request waiting for another process's request looks again
_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
_MAX_RESYNC_DOUBLINGS = 10


def key_fingerprint(api_key: str) -> str:
    """A file-name-safe id for a key that reveals nothing of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _read_boot_id() -> str:
    try:
        return _BOOT_ID_FILE.read_text().strip()
    except OSError:
        return ""  # unknown: every new process then trusts the file only up to `reserved`


BOOT_ID = _read_boot_id() or f"process-{os.getpid()}"


@dataclass(frozen=True)
class KeyState:
    """What one key's file says; valid only while the key is held."""

    last: int = 0
    reserved: int = 0
    counter: float = 0.0
    counter_clock: float = 0.0
    counter_wall: float = 0.0
    boot: str = ""


class KeyFile:
    """One key's file: an OS lock, a fresh read under it, and in-place writes (fsynced when they must survive)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(private_file(path), os.O_RDWR)  # 0600 in a 0700 directory, whatever the umask
        weakref.finalize(self, os.close, self._fd)  # the descriptor closes with the object
        self._known: tuple[bytes | None, KeyState] = (None, KeyState())  # the file's last bytes seen here: their state

    def lock(self, stop: StopToken) -> None:
        """Hold the file's OS lock; while another process holds it, look again every few ms (the stop ends the wait)."""
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if stop.wait(_POLL_SECONDS):
                stop.check("Kraken private call")

    def unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def read(self) -> KeyState:
        data = os.pread(self._fd, FILE_SIZE * 4, 0)
        if data == self._known[0]:  # the file still holds what this object last read or wrote: no need to parse it
            return self._known[1]
        state = self._parse(data)
        self._known = (data, state)
        return state

    def _parse(self, content: bytes) -> KeyState:
        raw = content.decode("utf-8", "replace").strip()
        if not raw:
            return KeyState(boot=BOOT_ID)
        try:
            data = json.loads(raw)
            reserved = int(data["reserved"])
            state = KeyState(
                last=int(data.get("last", reserved)), reserved=reserved, counter=float(data.get("counter", 0.0)),
                counter_clock=float(data.get("counter_clock", 0.0)), counter_wall=float(data.get("counter_wall", 0.0)),
                boot=str(data.get("boot", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise RuntimeError(
                f"{self.path}: unreadable Kraken nonce file ({error}); delete it to start over"
            ) from None
        if state.boot != BOOT_ID:  # written before this boot: an unsynced `last` may have been lost
            state = replace(state, last=max(state.last, state.reserved), boot=BOOT_ID)
        return state

    def write(self, state: KeyState, *, durable: bool) -> None:
        text = (  # by hand: dataclasses.asdict deep-copies, and this runs on every private call
            f'{{"last":{state.last},"reserved":{state.reserved},"counter":{state.counter!r},'
            f'"counter_clock":{state.counter_clock!r},"counter_wall":{state.counter_wall!r},'
            f'"boot":{json.dumps(state.boot)}}}'
        )
        if len(text) >= FILE_SIZE:
            raise RuntimeError(f"{self.path}: nonce state grew beyond {FILE_SIZE} bytes")
        data = text.ljust(FILE_SIZE - 1).encode() + b"\n"
        self._known = (None, state)  # until the write is done, a read parses the file
        os.pwrite(self._fd, data, 0)
        self._known = (data, state)
        if durable:
            os.fsync(self._fd)


class KeyChannel:
    """One API key in this process: the lock held across each whole private request, its nonces and counter."""

    def __init__(self, path: Path, clock: Clock, reserve: int) -> None:
        self.file = KeyFile(path)
        self.clock = clock
        self.reserve = reserve
        self._lock = threading.Lock()
        self._state: KeyState | None = None
        self._refusals = 0  # nonces refused in a row: each resync jumps twice as far as the last
        self.last_nonce = 0  # the last nonce this process saw in the file (diagnostics and tests)

    @contextmanager
    def hold(self, stop: StopToken) -> Iterator[None]:
        """The key for one whole request (nonce chosen, request sent, answer read); the stop ends any wait for it."""
        while not self._lock.acquire(timeout=0.05):
            stop.check("Kraken private call")
        try:
            self.file.lock(stop)
            try:
                self._state = self.file.read()
                yield
            finally:
                self._state = None
                self.file.unlock()
        finally:
            self._lock.release()

    @property
    def state(self) -> KeyState:
        if self._state is None:
            raise RuntimeError("the Kraken key's state is read only while the key is held")
        return self._state

    def update(self, state: KeyState) -> None:
        """Change the held state (the rate counter), written at once: a refusal's counter must outlive the error."""
        self._state = state
        self.file.write(state, durable=False)

    def next_nonce(self) -> int:
        """The next nonce: microseconds of the clock, or one above the last sent by anyone, whichever is higher.

        Written to the file before the request leaves; the reservation moves ahead (fsynced) when used up.
        """
        state = self.state
        nonce = max(state.last + 1, int(self.clock.now() * 1_000_000))
        reserved = state.reserved
        if nonce > reserved:
            reserved = nonce + self.reserve
        self._state = replace(state, last=nonce, reserved=reserved)
        self.file.write(self._state, durable=reserved != state.reserved)
        self.last_nonce = nonce
        return nonce

    def resync(self, step: int) -> None:
        """After EAPI:Invalid nonce: something outside this file used a higher nonce; move past it at once.

        Each refusal in a row jumps twice as far as the one before, so even a nonce far ahead (another
        program on the same key) is passed within a few requests instead of when the clock catches up.
        """
        self._refusals = min(self._refusals + 1, _MAX_RESYNC_DOUBLINGS)
        state = self.state
        last = max(state.last, int(self.clock.now() * 1_000_000)) + step * 2 ** (self._refusals - 1)
        reserved = max(state.reserved, last + self.reserve)
        self._state = replace(state, last=last, reserved=reserved)
        self.file.write(self._state, durable=True)
        self.last_nonce = last

    def accepted(self) -> None:
        """Kraken took a nonce: the next refusal starts again from the smallest jump."""
        self._refusals = 0


_channels: weakref.WeakValueDictionary[tuple[str, str], KeyChannel] = weakref.WeakValueDictionary()
_channels_lock = threading.Lock()


def nonce_path(api_key: str, state_dir: Path) -> Path:
    return Path(state_dir) / "kraken" / f"nonce-{key_fingerprint(api_key)}.json"


def channel_for(api_key: str, state_dir: Path, clock: Clock, reserve: int) -> KeyChannel:
    """The process-wide channel of (key, state dir), shared by every adapter of the key in this process."""
    path = nonce_path(api_key, state_dir)
    private_dir(Path(state_dir))
    ident = (key_fingerprint(api_key), str(path.resolve()))
    with _channels_lock:
        channel = _channels.get(ident)
        if channel is None:
            channel = KeyChannel(path, clock, reserve)
            _channels[ident] = channel
        return channel
