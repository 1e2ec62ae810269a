"""One bot per state directory (docs/rules.md §3): an OS file lock held by `python bot.py run` for its lifetime.

Two bots on one state directory share its nonce files and its store: their Kraken nonces collide
and both trade the same accounts. `run` takes an exclusive ``flock`` on ``<state dir>/nija.lock``
before it opens anything else; a second `run` on the same directory is refused with one line naming
the running one. The OS releases the lock when the process ends, however it ends (a crash, SIGKILL),
so a stale file never blocks a restart.

The file (mode 0600) holds who runs, as JSON: pid, host, start time and mode. Viewers (`status`,
`verify_*.py --running`, the web pages) read it with ``lock_status`` and never take the lock: whether
it is held is read from /proc/locks where the OS has it, else from whether the pid still lives.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bot.clock import utc_text
from bot.state.private import private_dir

LOCK_FILE_NAME = "nija.lock"
_PROC_LOCKS = Path("/proc/locks")


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a state directory."""

    pid: int
    host: str
    started_at: float  # unix seconds
    mode: str = ""  # "live" or "paper"

    def describe(self) -> str:
        mode = f" ({self.mode} mode)" if self.mode else ""
        return f"pid {self.pid} on {self.host}, running since {utc_text(self.started_at)}{mode}"


@dataclass(frozen=True)
class LockStatus:
    """What a viewer sees: whether a bot runs on the directory, and who it is (or was, when it is not running)."""

    running: bool
    holder: LockHolder | None


class AlreadyRunning(RuntimeError):
    """Another bot holds the state directory; str() is the one line to show."""

    def __init__(self, state_dir: Path, holder: LockHolder | None) -> None:
        who = holder.describe() if holder is not None else "its lock file gives no details"
        super().__init__(
            f"another NIJA is already running on {state_dir} ({who}); stop it first, or give this one "
            "its own NIJA_STATE_DIR"
        )
        self.holder = holder


def _parse(raw: bytes) -> LockHolder | None:
    try:
        data = json.loads(raw.decode("utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), float(data["started_at"]), str(data.get("mode", "")))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


class InstanceLock:
    """The exclusive lock on one state directory; use as a context manager around the whole run."""

    def __init__(self, state_dir: Path, mode: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_FILE_NAME
        self.mode = mode
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        """Take the lock or raise AlreadyRunning; then write who we are into the file."""
        if self.held:
            return self
        private_dir(self.state_dir)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise AlreadyRunning(self.state_dir, _parse(os.pread(fd, 4096, 0))) from None
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time(), "mode": self.mode}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the file (viewers then see no bot) and let the lock go."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> InstanceLock:
        return self if self.held else self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def _held_per_proc_locks(path: Path) -> bool | None:
    """Whether some process holds a flock on `path`, read from /proc/locks (None where the OS has no such file)."""
    try:
        info = path.stat()
        table = _PROC_LOCKS.read_text()
    except OSError:
        return None
    wanted = f":{info.st_ino}"
    device = (os.major(info.st_dev), os.minor(info.st_dev))
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (lines of waiters start with "->")
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[2] == "->":
            continue
        where = fields[5]
        if not where.endswith(wanted):
            continue
        major, minor, _ = where.split(":")
        if (int(major, 16), int(minor, 16)) == device:
            return True
    return False


def pid_alive(pid: int, host: str) -> bool | None:
    """Whether process `pid` of `host` still exists; None when it is another host's (this one cannot tell)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def lock_status(state_dir: Path) -> LockStatus:
    """Whether a bot runs on `state_dir` and who; never takes the lock (safe beside a running bot)."""
    path = Path(state_dir) / LOCK_FILE_NAME
    try:
        holder = _parse(path.read_bytes())
    except OSError:
        return LockStatus(False, None)
    held = _held_per_proc_locks(path)
    if held is None:  # no /proc/locks: the pid decides when it is on this host
        held = holder is not None and pid_alive(holder.pid, holder.host) is True
    return LockStatus(held, holder)
