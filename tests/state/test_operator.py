"""The cockpit's own tables: bot runs and their heartbeat, entry controls with who/when and their log, notification
cursors, equity samples; and the one-line verdict on whether the bot runs."""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
from pathlib import Path

import pytest

from bot.state.operator import (
    ALL,
    BotRun,
    EquitySample,
    OperatorStore,
    OperatorStoreError,
    process_alive,
    run_status,
)
from bot.state.store import StateStore

NOW = 1_750_000_000.0


@pytest.fixture
def operator(tmp_path: Path) -> OperatorStore:
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    return OperatorStore(path)


def test_a_run_is_recorded_beats_and_stops(operator: OperatorStore) -> None:
    run = operator.start_run(4321, "box", "paper", NOW)
    operator.beat(run.run_id, NOW + 5)
    assert operator.last_run() == BotRun(run.run_id, 4321, "box", "paper", NOW, NOW + 5)
    operator.stop_run(run.run_id, NOW + 9, "stopped cleanly")
    stopped = operator.last_run()
    assert stopped is not None and (stopped.stopped_at, stopped.stop_reason, stopped.last_beat) == (
        NOW + 9, "stopped cleanly", NOW + 9)
    later = operator.start_run(99, "box", "live", NOW + 100)
    assert operator.last_run() == later and [r.run_id for r in operator.runs()] == [later.run_id, run.run_id]


def test_run_status_tells_running_from_stopped_cleanly_and_from_killed() -> None:
    run = BotRun("r", 4321, "box", "paper", NOW, NOW + 60)
    running = run_status(run, NOW + 61, heartbeat_seconds=5)
    assert running.running and running.text.startswith("RUNNING since") and "pid 4321 on box" in running.text
    assert running.heartbeat_age == 1
    stale = run_status(run, NOW + 60 + 16, heartbeat_seconds=5)  # 3 beats, at least 15 s
    assert not stale.running and "did not stop cleanly" in stale.text and "no heartbeat since" in stale.text
    gone = run_status(run, NOW + 61, heartbeat_seconds=5, pid_alive=False)
    assert not gone.running and "its process is gone" in gone.text
    stopped = run_status(BotRun("r", 1, "box", "paper", NOW, NOW + 60, NOW + 60, "stopped cleanly"), NOW + 120, 5)
    assert not stopped.running and stopped.text.startswith("STOPPED at") and "stopped cleanly" in stopped.text
    assert "(60 s ago; stopped cleanly)" in stopped.text
    assert run_status(None, NOW, 5).text == "never started with this store"


def test_the_state_directorys_lock_decides_when_it_is_known() -> None:
    run = BotRun("r", 4321, "box", "live", NOW, NOW + 60)
    stuck = run_status(run, NOW + 600, heartbeat_seconds=5, lock_held=True)  # held, but silent for 9 min
    assert stuck.running and "NO HEARTBEAT for that long: it may be stuck" in stuck.text
    gone = run_status(run, NOW + 61, heartbeat_seconds=5, lock_held=False)  # fresh beat, but the lock is free
    assert not gone.running and "its process is gone" in gone.text
    stopped = BotRun("r", 1, "box", "live", NOW, NOW + 60, NOW + 60, "stopped cleanly")
    assert run_status(stopped, NOW + 70, 5, lock_held=True).text.startswith("RUNNING: starting")
    assert run_status(None, NOW, 5, lock_held=True).running


def test_process_alive_knows_this_host_only() -> None:
    me = BotRun("r", os.getpid(), socket.gethostname(), "paper", NOW, NOW)
    assert process_alive(me) is True
    elsewhere = BotRun("r", os.getpid(), socket.gethostname() + "-other", "paper", NOW, NOW)
    assert process_alive(elsewhere) is None


def test_entry_controls_are_recorded_with_who_and_when_and_the_global_block_comes_first(
    operator: OperatorStore,
) -> None:
    assert operator.entry_gate("kraken", "alice") is None
    operator.set_entry_pause("kraken", "alice", True, actor="ops", address="10.0.0.2", reason="too volatile", at=NOW)
    assert operator.entry_gate("kraken", "bob") is None
    assert operator.entry_gate("kraken", "alice") == (
        "new entries paused by ops (operator control): too volatile; exits keep working")
    operator.set_entry_pause(ALL, ALL, True, actor="lead", address="127.0.0.1", reason="", at=NOW + 1)
    assert operator.entry_gate("kraken", "bob") == (
        "new entries blocked on every account by lead (operator control); exits keep working")
    assert "every account" in (operator.entry_gate("kraken", "alice") or "")
    operator.set_entry_pause(ALL, ALL, False, actor="lead", address="127.0.0.1", reason="calm", at=NOW + 2)
    operator.set_entry_pause("kraken", "alice", False, actor="ops", address="10.0.0.2", reason="", at=NOW + 3)
    assert operator.entry_pauses() == []
    log = operator.control_log()
    assert [(e.action, e.actor, e.address, e.at) for e in log] == [
        ("resume_entries", "ops", "10.0.0.2", NOW + 3), ("unblock_entries", "lead", "127.0.0.1", NOW + 2),
        ("block_entries", "lead", "127.0.0.1", NOW + 1), ("pause_entries", "ops", "10.0.0.2", NOW)]


def test_cursors_and_equity_samples_round_trip(operator: OperatorStore) -> None:
    assert operator.cursor("notify.signals") is None
    operator.save_cursor("notify.signals", {"at": [NOW, "sig"]})
    operator.save_cursor("notify.signals", {"at": [NOW + 1, "sig2"]})
    assert operator.cursor("notify.signals") == {"at": [NOW + 1, "sig2"]}
    samples = [EquitySample("kraken", "alice", NOW + i, 100.0 + i, 50.0) for i in range(3)]
    operator.add_equity_samples(samples)
    operator.add_equity_samples(samples[:1])  # the same reading twice is kept once
    assert operator.equity_samples("kraken", "alice") == samples
    assert operator.equity_samples("kraken", "alice", since=NOW + 1) == samples[1:]
    assert operator.last_equity_times() == {("kraken", "alice"): NOW + 2}
    assert operator.first_equity() == {("kraken", "alice"): samples[0]}


def test_a_long_equity_history_is_thinned_evenly_and_keeps_its_latest_point(operator: OperatorStore) -> None:
    samples = [EquitySample("kraken", "alice", NOW + 300 * i, 100.0 + i, 50.0) for i in range(5_000)]
    operator.add_equity_samples(samples)
    operator.add_equity_samples([EquitySample("kraken", "bob", NOW, 1.0, 1.0)])
    thinned = operator.equity_samples("kraken", "alice", most=100)
    assert 90 <= len(thinned) <= 100
    assert thinned[-1] == samples[-1] and all(s in samples for s in thinned)
    times = [s.time for s in thinned]
    assert times == sorted(times)
    stretch = (samples[-1].time - samples[0].time) / 99
    assert max(b - a for a, b in itertools.pairwise(times)) <= 2 * stretch  # no hole: every stretch has its point
    assert operator.equity_samples("kraken", "alice", since=NOW + 300 * 4_990, most=100) == samples[4_990:]
    assert operator.equity_samples("kraken", "bob", most=100) == [EquitySample("kraken", "bob", NOW, 1.0, 1.0)]
    assert len(operator.equity_samples("kraken", "alice")) == 5_000  # without `most`: everything


def test_a_viewer_reads_an_old_store_as_empty_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    viewer = OperatorStore(path, read_only=True)
    assert (viewer.last_run(), viewer.entry_pauses(), viewer.cursor("x")) == (None, [], None)
    with pytest.raises(OperatorStoreError, match="read-only"):
        viewer.save_cursor("x", {})
    foreign = tmp_path / "other.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(OperatorStoreError, match="not a NIJA state store"):
        OperatorStore(foreign)
    fresh = tmp_path / "fresh.sqlite3"
    with pytest.raises(OperatorStoreError, match="open the StateStore first"):
        OperatorStore(fresh)  # its tables would make the StateStore refuse the file
