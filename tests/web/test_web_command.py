"""`python bot.py web`: the dashboard served read-only from a store with no bot running."""

from __future__ import annotations

import argparse
import io
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.config.settings import load_settings
from bot.web import arguments, command
from tests.web.conftest import Traded


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    arguments.add_arguments(parser)
    return parser.parse_args(list(argv))


class Announced(io.StringIO):
    """The command's output, with an event set once it has printed its URL (the socket listens by then)."""

    def __init__(self) -> None:
        super().__init__()
        self.printed = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "http://" in self.getvalue():
            self.printed.set()
        return written


def test_serves_the_store_read_only_until_stopped(traded: Traded) -> None:
    settings = load_settings({}, env_file=None)
    out, stop, codes = Announced(), threading.Event(), []
    server = threading.Thread(target=lambda: codes.append(command.serve(
        parse("--port", "0"), settings, traded.path, out=out, stop=stop)), daemon=True)
    server.start()
    try:
        assert out.printed.wait(30), out.getvalue()
        url = next(word for word in out.getvalue().split() if word.startswith("http://"))
        assert url.startswith("http://127.0.0.1:") and f"for {traded.path}" in out.getvalue()
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "kraken:demo_user_1" in page.text
        assert "served by a read-only viewer" in page.text
        assert httpx.post(f"{url}/api/v1/controls/entries", json={"blocked": True}, timeout=10).status_code == 403
    finally:
        stop.set()
        server.join(10)
    assert codes == [0]


def test_refuses_a_public_address_without_a_token_and_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings({}, env_file=None)
    assert command.serve(parse("--host", "0.0.0.0"), settings, tmp_path / "x.sqlite3") == 2
    assert "WEB_HOST=0.0.0.0 would open the dashboard to the network" in capsys.readouterr().err
    assert command.serve(parse("--port", "0"), settings, tmp_path / "x.sqlite3") == 2
    assert capsys.readouterr().err.strip() == (
        f"nija: no state store at {tmp_path / 'x.sqlite3'}: start the bot first (python bot.py), or run the "
        "verify_*.py scripts to check accounts without a running bot (or name one with --store)")


def test_sigterm_stops_the_command_through_the_shared_stop_signals_with_exit_0(traded: Traded, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
    env.update({"NIJA_HOME": str(tmp_path), "NIJA_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"})
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, str(root / "bot.py"), "web", "--port", "0", "--store", str(traded.path)]
    process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        seen, deadline = b"", time.monotonic() + 60
        while b"(Ctrl-C to stop)" not in seen:  # the server listens once it says so
            assert time.monotonic() < deadline, seen
            if select.select([process.stdout], [], [], deadline - time.monotonic())[0]:
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, (seen, process.stderr.read() if process.stderr else b"")
                seen += chunk
        process.send_signal(signal.SIGTERM)
        _, raw_err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    err = raw_err.decode(errors="replace")
    assert process.returncode == 0 and "Traceback" not in err, err
    assert "nija: SIGTERM received: stopping" in err  # bot/trading/stop_signals.py's word, as for `run`
