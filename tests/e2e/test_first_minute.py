"""`python bot.py` as a newcomer types it, with its real defaults (no chosen seed, the wall clock, 600x): the
master's first trade within 30 seconds, both copies within a second of it, and a status line within 15 seconds
of the start-up table (issue 13).

The fills are read from the paper store the bot writes (polled with a deadline: the bot is another process);
the copies' delay is measured on the simulated clock the fills carry, divided by its speed.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_TRADE_SECONDS = 30.0
COPY_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
SPEED = 600.0  # SIM_SPEED's default, which this test leaves alone
FOLLOWERS = ("demo_user_1", "demo_user_2")


def first_entry_and_copies(store: Path) -> dict[str, float]:
    """Simulated fill times of the master's first buy and of each follower's buy of the same symbol."""
    if not store.is_file():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)) as db:
            first = db.execute("SELECT symbol, time FROM fills WHERE broker = 'kraken' AND account_id = 'master' "
                               "AND side = 'buy' ORDER BY time LIMIT 1").fetchone()
            if first is None:
                return {}
            found = {"master": float(first[1])}
            for follower in FOLLOWERS:
                row = db.execute("SELECT min(time) FROM fills WHERE broker = 'kraken' AND account_id = ? AND "
                                 "side = 'buy' AND symbol = ? AND time >= ?", (follower, first[0], first[1])).fetchone()
                if row[0] is not None:
                    found[follower] = float(row[0])
            return found
    except sqlite3.OperationalError:  # the bot is creating the file right now: ask again at the next poll
        return {}


def test_the_default_demo_trades_within_30_seconds_and_its_copies_follow_within_a_second(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_", "SIM_", "PAPER_", "LIVE_TRADING"))}
    env.update({"NIJA_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"})  # a fresh folder: a clean clone's state
    store = tmp_path / "state" / "paper" / "nija.sqlite3"
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "--duration", "60"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, fills = b"", {}
    seen: dict[str, float] = {}
    try:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = started + FIRST_TRADE_SECONDS + HEARTBEAT_SECONDS + 5
        while time.monotonic() < deadline and not ("heartbeat" in seen and len(fills) == 3):
            ready, _, _ = select.select([fd], [], [], 0.1)  # also the poll interval of the store
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                output += chunk
            now = time.monotonic()
            text = output.decode(errors="replace")
            if "table" not in seen and "accounts at start-up" in text:
                seen["table"] = now
            if "heartbeat" not in seen and re.search(r"^\[kraken\] scanned ", text, re.M):
                seen["heartbeat"] = now
            if len(fills) < 3:
                fills = first_entry_and_copies(store)
                if "master" in fills and "master" not in seen:
                    seen["master"] = now
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = output.decode(errors="replace")
    assert "master" in seen and seen["master"] - started <= FIRST_TRADE_SECONDS, f"no master fill:\n{text[-3000:]}"
    for follower in FOLLOWERS:
        assert follower in fills, f"{follower} did not copy the first entry:\n{text[-3000:]}"
        assert (fills[follower] - fills["master"]) / SPEED <= COPY_SECONDS, (follower, fills)
    assert "heartbeat" in seen and seen["heartbeat"] - seen["table"] <= HEARTBEAT_SECONDS, text[-3000:]
    assert process.returncode == 0, rest.decode(errors="replace")[-2000:]
