"""One bot per state directory (issue 11, #1), where orders go (#6) and private files (#8), with real processes.

A second `python bot.py run` on a state directory a bot holds is refused with one line naming the running
one and exits 2, in live and in paper mode; the running bot does not notice. The lock goes with the
process. The live banner names the host each brokerage's orders go to, or the simulator; a bad
KRAKEN_API_URL stops the bot at start with one line. Everything in the state directory is its owner's only.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

from bot.sim.standalone import wait_for
from bot.state.instance_lock import LOCK_FILE_NAME, lock_status
from scripts.benchmarks._live_harness import REPO, LiveExchange


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_second_live_bot_on_the_same_state_is_refused_and_the_first_carries_on(live_exchange: LiveExchange) -> None:
    live = live_exchange
    first = live.start_bot()
    first.wait_for_text(r"thread started", 90)
    second = live.start_bot()
    assert second.wait_exit(60) == 2
    refusals = [line for line in second.text().splitlines() if "already running" in line]
    assert len(refusals) == 1, second.text()
    assert refusals[0].startswith("nija: another NIJA is already running on ")
    assert f"pid {first.process.pid} on {socket.gethostname()}" in refusals[0] and "running since" in refusals[0]
    assert "thread started" not in second.text()  # it never started trading
    status = lock_status(live.state_dir)
    assert status.running and status.holder is not None and status.holder.pid == first.process.pid
    calls = live.private_calls()
    wait_for(lambda: live.private_calls() >= calls + 3, 60, "the first bot's next calls", alive=lambda: first.alive)
    assert live.invalid_nonces == 0
    first.send(signal.SIGTERM)
    assert first.wait_exit(30) == 0
    assert not lock_status(live.state_dir).running
    third = live.start_bot()  # the directory is free again
    third.wait_for_text(r"thread started", 90)
    third.send(signal.SIGTERM)
    assert third.wait_exit(30) == 0


def test_a_killed_bot_leaves_no_lock_behind(live_exchange: LiveExchange) -> None:
    live = live_exchange
    first = live.start_bot()
    first.wait_for_text(r"thread started", 90)
    first.process.kill()  # kill -9: no clean-up at all
    first.wait_exit(30)
    status = lock_status(live.state_dir)
    assert not status.running and status.holder is not None and status.holder.pid == first.process.pid
    second = live.start_bot()
    second.wait_for_text(r"thread started", 90)
    second.send(signal.SIGTERM)
    assert second.wait_exit(30) == 0


def test_two_paper_bots_on_one_state_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_"))}
    env.update({"NIJA_STATE_DIR": str(tmp_path / "state"), "LIVE_TRADING": "false", "PYTHONUNBUFFERED": "1",
                "NIJA_USERS_DIR": str(tmp_path / "users")})
    log = (tmp_path / "first.log").open("wb")
    (tmp_path / "state" / "paper").mkdir(parents=True)
    (tmp_path / "state" / "paper" / "old-results.txt").write_text("from an earlier paper run")
    # --fresh empties the paper directory: everything but the lock this very run already holds.
    first = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "run", "--fresh"], cwd=tmp_path, env=env,
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "thread started" in (tmp_path / "first.log").read_text(), 90, "the first paper bot",
                 alive=lambda: first.poll() is None)
        paper = tmp_path / "state" / "paper"
        kept = sorted(p.name for p in paper.iterdir())
        assert "old-results.txt" not in kept
        second = subprocess.run([sys.executable, str(REPO / "bot.py"), "run", "--fresh"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 2
        assert second.stderr.count("already running") == 1 and f"pid {first.pid}" in second.stderr
        assert (paper / LOCK_FILE_NAME).is_file() and "nija.sqlite3" in kept
        assert set(kept) <= {p.name for p in paper.iterdir()}  # --fresh was refused before it emptied anything
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        log.close()


def test_the_live_banner_names_where_orders_go_and_the_state_is_private(live_exchange: LiveExchange) -> None:
    live = live_exchange
    bot = live.start_bot()  # with umask 022, the usual default
    bot.wait_for_text(r"thread started", 90)
    assert live.server is not None
    port = live.server.url("kraken").rsplit(":", 1)[1]
    text = bot.text()
    assert f"kraken: the simulator at 127.0.0.1:{port} (this machine, not a real exchange)" in text
    assert "real exchanges" not in text
    bot.send(signal.SIGTERM)
    assert bot.wait_exit(30) == 0
    state = live.state_dir
    assert _mode(state) == 0o700 and _mode(state / "kraken") == 0o700
    files = [state / LOCK_FILE_NAME, *state.glob("nija.sqlite3*"), *(state / "kraken").glob("nonce-*.json")]
    assert len(files) >= 1 + 1 + 3  # lock, store (and its WAL files), one nonce file per key
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_a_kraken_url_with_the_api_path_is_refused_at_start_with_one_line(live_exchange: LiveExchange) -> None:
    for value, words in (("https://api.kraken.com/0", "drop /0"), ("api.kraken.com", "no scheme")):
        result = subprocess.run([sys.executable, str(REPO / "bot.py")], cwd=live_exchange.root,
                                env=live_exchange.environment(KRAKEN_API_URL=value), capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"nija: configuration error: KRAKEN_API_URL={value!r}: ")
        assert words in lines[0] and "like https://api.kraken.com" in lines[0]


def test_status_beside_a_bot_whose_clock_is_off_says_degraded_with_the_fix(tmp_path: Path) -> None:
    # Issue 11, #7: the exchange's clock 3 hours behind this machine's; the bot once said TRADING and healthy.
    with LiveExchange(tmp_path / "skewed", clock_offset_seconds=-3 * 3600) as live:
        bot = live.start_bot()
        bot.wait_for_text(r"this machine's clock is 3 h 0 min ahead of the exchange's own time", 90)
        wait_for(lambda: live.passes("master") >= 3, 60, "the master's passes", alive=lambda: bot.alive)
        status = subprocess.run([sys.executable, str(REPO / "bot.py"), "status"], cwd=live.root,
                                env=live.environment(), capture_output=True, text=True, timeout=60, check=False)
        assert status.returncode == 0, status.stderr
        master = status.stdout.split("kraken:master", 1)[1].split("kraken:", 1)[0]
        assert "degraded" in master and "this machine's clock is 3 h 0 min ahead of kraken's" in master
        assert "health fix: set this machine's clock right" in master
        assert lock_status(live.state_dir).running  # status only read: the bot still holds its lock
        bot.send(signal.SIGTERM)
        assert bot.wait_exit(30) == 0
