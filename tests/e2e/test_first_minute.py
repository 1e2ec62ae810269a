"""`python bot.py` as a newcomer types it, with its real defaults (no chosen seed, the wall clock, 600x): the
master's first trade within 30 seconds and both copies within a second of it (issue 13)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_TRADE_SECONDS = 30.0
COPY_SECONDS = 1.0


def test_the_default_demo_trades_within_30_seconds_and_its_copies_follow_within_a_second(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_", "SIM_", "PAPER_", "LIVE_TRADING"))}
    env["NIJA_HOME"] = str(tmp_path)  # a fresh folder stands in for a clean clone's (no .env, no state)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "--duration", "60"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[str, float] = {}
    log = b""
    try:
        assert process.stderr is not None
        fd = process.stderr.fileno()
        deadline = started + FIRST_TRADE_SECONDS + COPY_SECONDS + 5
        entry = None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
            chunk = os.read(fd, 65536) if ready else b""
            if ready and not chunk:
                break
            now = time.monotonic()
            log += chunk
            text = log.decode(errors="replace")
            if entry is None and (match := re.search(r"ENTRY FILLED (\S+):", text)):
                entry = match.group(1)
                seen["master"] = now
            if entry is not None:
                for follower in ("demo_user_1", "demo_user_2"):
                    if follower not in seen and re.search(rf"copy -> kraken:{follower} BUY {re.escape(entry)}: filled",
                                                          text):
                        seen[follower] = now
                if len(seen) == 3:
                    break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.decode(errors="replace")
    assert "master" in seen, f"no master fill within {FIRST_TRADE_SECONDS:g} s:\n{text[-3000:]}"
    assert seen["master"] - started <= FIRST_TRADE_SECONDS, seen["master"] - started
    for follower in ("demo_user_1", "demo_user_2"):
        assert follower in seen, f"{follower} did not copy {entry}:\n{text[-3000:]}"
        assert seen[follower] - seen["master"] <= COPY_SECONDS
    assert process.returncode == 0, rest.decode(errors="replace")[-2000:]
