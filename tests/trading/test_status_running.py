"""`python bot.py status` tells a running bot from a stopped one (issue 12): a real `bot.py run` in its own process,
read while it runs, after a clean stop, and after `kill -9`."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import Settings, load_settings
from bot.trading import commands

ROOT = Path(__file__).resolve().parents[2]
ENV = {"SIM_MARKETS": "4", "WEB_PORT": "0", "STORE_HEARTBEAT_SECONDS": "0.5"}


def status_json(settings: Settings) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser()
    commands.add_status_arguments(parser)
    out = io.StringIO()
    if commands.status(parser.parse_args(["--json"]), settings, out=out) != 0:
        return None
    return json.loads(out.getvalue())


def status_text(settings: Settings) -> str:
    parser = argparse.ArgumentParser()
    commands.add_status_arguments(parser)
    out = io.StringIO()
    assert commands.status(parser.parse_args([]), settings, out=out) == 0
    return out.getvalue()


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    """Poll a condition on another process's store, with a deadline (not a sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds:g} s")


def start_bot(tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "LIVE_", "KRAKEN_", "WEB_"))}
    env.update(ENV, NIJA_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "run", "--duration", "120"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def running(settings: Settings) -> dict[str, Any] | None:
    report = status_json(settings)
    return report if report is not None and report["bot"]["running"] and report["accounts"] else None


def test_status_says_running_with_pid_and_heartbeat_then_stopped_at_after_a_clean_stop(tmp_path: Path) -> None:
    settings = load_settings({**ENV, "NIJA_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    bot = start_bot(tmp_path)
    try:
        report = wait_for(lambda: running(settings), "the bot reported itself running")
        assert report["bot"]["pid"] == bot.pid and report["bot"]["mode"] == "paper"
        assert report["bot"]["heartbeat_age_seconds"] < 5
        text = status_text(settings)
        assert text.startswith("NIJA is RUNNING since ") and f"pid {bot.pid}" in text and "heartbeat" in text
        assert "P&L today" in text and "cash USD" in text
        bot.send_signal(signal.SIGTERM)
        output, _ = bot.communicate(timeout=30)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, output
    assert "Dashboard: http://127.0.0.1:" in output
    report = status_json(settings)
    assert report is not None and not report["bot"]["running"]
    assert report["bot"]["stop_reason"] == "stopped cleanly" and report["bot"]["stopped_at"] is not None
    text = status_text(settings)
    assert text.startswith("NIJA is STOPPED at ") and "as the bot last saw them" in text
    assert "TRADING" in text and "healthy" not in text  # its last state, never called healthy after the stop


def test_status_after_kill_9_says_the_bot_did_not_stop_cleanly(tmp_path: Path) -> None:
    settings = load_settings({**ENV, "NIJA_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    bot = start_bot(tmp_path)
    try:
        wait_for(lambda: running(settings), "the bot reported itself running")
        bot.send_signal(signal.SIGKILL)
        bot.communicate(timeout=30)
    finally:
        if bot.poll() is None:
            bot.kill()
    text = status_text(settings)
    assert text.startswith("NIJA is STOPPED: last seen at ")
    assert "its process is gone" in text and "did not stop cleanly" in text
