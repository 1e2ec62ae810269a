"""The Docker image's HEALTHCHECK (`python -m bot.web.healthcheck`) against a running paper bot's /healthz, and
against no bot at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import start_cockpit

ROOT = Path(__file__).resolve().parents[2]


def healthcheck(port: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "NIJA_"))}
    env.update(WEB_PORT=str(port), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bot.web.healthcheck"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_healthy_bot_exits_0_and_no_bot_exits_1_with_one_line(tmp_path: Path) -> None:
    bot = start_cockpit(tmp_path, WEB_ENABLED="true", WEB_PORT="0")
    try:
        assert bot.cockpit.url is not None
        port = int(bot.cockpit.url.rsplit(":", 1)[1])
        healthy = healthcheck(port, tmp_path)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert healthy.stdout.startswith("healthy: 4 thread(s) alive (accounts and copy dispatchers); RUNNING since")
    finally:
        bot.stop()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    down = healthcheck(free, tmp_path)
    assert down.returncode == 1 and down.stdout.startswith(f"unhealthy: no answer from http://127.0.0.1:{free}/healthz")
    assert down.stdout.count("\n") == 1 and down.stderr == ""


def test_the_image_declares_the_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 CMD ["python", "-m", ' \
           '"bot.web.healthcheck"]' in dockerfile
    assert "EXPOSE 8080" in dockerfile
