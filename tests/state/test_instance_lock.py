"""The single-instance lock on a state directory (issue 11, #1) and private files (#8), in-process and with a
process killed while holding it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state.instance_lock import LOCK_FILE_NAME, AlreadyRunning, InstanceLock, lock_status
from bot.state.private import private_dir, private_file


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_lock_says_who_holds_it_and_refuses_a_second_holder(tmp_path: Path, umask_022: None) -> None:
    state = tmp_path / "state"
    with InstanceLock(state, "live") as held:
        holder = json.loads((state / LOCK_FILE_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and holder["mode"] == "live"
        assert _mode(state) == 0o700 and _mode(state / LOCK_FILE_NAME) == 0o600
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock(state).acquire()
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(refused.value)
        assert "running since" in str(refused.value) and "NIJA_STATE_DIR" in str(refused.value)
        status = lock_status(state)
        assert status.running and status.holder is not None and status.holder.pid == os.getpid()
        assert held.held
    assert (state / LOCK_FILE_NAME).read_text() == ""  # released: viewers see no bot
    assert lock_status(state).running is False
    InstanceLock(state).acquire().release()  # free again


def test_the_os_releases_the_lock_of_a_killed_process(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bot.state.instance_lock import InstanceLock; "
                               f"InstanceLock({str(state)!r}, 'paper').acquire(); print('held', flush=True); "
                               "sys.stdin.read()"],
        cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} "):
            InstanceLock(state).acquire()
        assert lock_status(state).running
    finally:
        holder.kill()
        holder.wait(timeout=30)
    status = lock_status(state)
    assert not status.running and status.holder is not None and status.holder.pid == holder.pid  # last holder kept
    InstanceLock(state).acquire().release()


def test_private_files_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    (existing / "old.sqlite3").write_text("")
    assert _mode(existing) == 0o755 and _mode(existing / "old.sqlite3") == 0o644
    private_file(existing / "old.sqlite3")
    assert _mode(existing) == 0o700 and _mode(existing / "old.sqlite3") == 0o600  # tightened, content kept
    made = private_dir(tmp_path / "a" / "b")
    assert _mode(made) == 0o700
