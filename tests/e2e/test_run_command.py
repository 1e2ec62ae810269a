"""`python bot.py` as a newcomer runs it: live keys without LIVE_TRADING=true never reach a real exchange, paper
mode runs on the simulator in simulated time, --duration stops it cleanly within the shutdown timeout."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config.settings import load_settings
from bot.trading import commands


class StampedOutput(io.StringIO):
    """Remembers when each line was printed (real time), to measure the shutdown."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.stamps.append((time.monotonic(), text))
        return super().write(text)


def test_live_keys_without_live_trading_run_paper_mode_and_stop_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("KRAKEN_MASTER_API_KEY", "LIVEKEY" + "x" * 49)
    monkeypatch.setenv("KRAKEN_MASTER_API_SECRET", base64.b64encode(b"s" * 64).decode())
    monkeypatch.delenv("LIVE_TRADING", raising=False)
    settings = load_settings({"NIJA_STATE_DIR": str(tmp_path / "state"), "SIM_MARKETS": "6"}, env_file=None)
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    args = parser.parse_args(["--duration", "2", "--speed", "600", "--seed", "3"])
    out = StampedOutput()
    code = commands.run(args, settings, out=out)
    ended = time.monotonic()
    text = out.getvalue()
    assert code == 0
    assert "NO ORDER GOES TO A REAL EXCHANGE" in text and "PAPER MODE" in text
    assert "kraken:demo_user_1" in text and "kraken:demo_user_2" in text and "final summary" in text
    assert "LIVEKEY" not in text
    stopping = next(t for t, line in out.stamps if line.startswith("stopping:"))
    assert ended - stopping < 5.0
    assert not (tmp_path / "state" / "nija.sqlite3").exists()  # the live store is never touched in paper mode
    status_out = io.StringIO()
    status_parser = argparse.ArgumentParser()
    commands.add_status_arguments(status_parser)
    assert commands.status(status_parser.parse_args(["--json"]), settings, out=status_out) == 0
    accounts = json.loads(status_out.getvalue())["accounts"]
    assert {(a["broker"], a["account_id"], a["state"]) for a in accounts} == {
        ("kraken", "master", "TRADING"), ("kraken", "demo_user_1", "FOLLOWING"), ("kraken", "demo_user_2", "FOLLOWING")
    }
    assert all(a["health"] is not None and a["health"]["cycles"] > 0 for a in accounts)


def test_bad_brokers_argument_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"NIJA_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    assert commands.run(parser.parse_args(["--brokers", "kraken,binance"]), settings) == 2
    assert "--brokers 'kraken,binance': expected a comma-separated list of kraken, coinbase, alpaca" in (
        capsys.readouterr().err
    )


def test_sigterm_stops_every_thread_within_five_seconds_with_a_summary(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_"))}
    env.update({"NIJA_STATE_DIR": str(tmp_path / "state"), "SIM_MARKETS": "6", "LIVE_TRADING": "false",
                "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, str(repo / "bot.py")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # blocks on the pipe until the bot reports; no sleeping
            lines.append(line)
            if "kraken:demo_user_2 reconcile" in line:
                break
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
        code = process.wait(timeout=15)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, rest
    assert elapsed < 5.0
    assert "final summary per account" in rest and "kraken:master" in rest
