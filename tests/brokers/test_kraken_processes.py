"""One Kraken key used by several processes: nonces in order and the rate counter shared (issue 11, #1, #2, #4).

Real processes (scripts/benchmarks/_kraken_calls.py) run the real adapter against the simulator served by
this test process, so the simulator's own checks (strictly increasing nonce per key, Kraken's rate
counter) decide. Each process says "ready" once built and starts on a line from the test, so two of
them really overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.brokers.kraken_nonce import FILE_SIZE, nonce_path
from tests.brokers.conftest import ContractEnv

REPO = Path(__file__).resolve().parents[2]


def _process(env: ContractEnv, key: str, secret: str, state: Path, threads: int, calls: int,
             *settings: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "NIJA_TEST_KRAKEN_KEY": key, "NIJA_TEST_KRAKEN_SECRET": secret}
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.benchmarks._kraken_calls", env.server.url("kraken"), str(state), str(threads),
         str(calls), *settings],
        cwd=REPO, env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def _result(process: subprocess.Popen[str]) -> dict[str, object]:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_of_four_threads_share_one_key_without_an_invalid_nonce(kraken: ContractEnv) -> None:
    credentials = kraken.provision("shared", {"USD": 1_000.0})
    face = kraken.server.face("kraken")
    state = kraken.tmp / "state"
    unlimited = ("KRAKEN_RATE_COUNTER_MAX=1000000", "KRAKEN_RATE_DECAY_PER_SECOND=1000000")
    first = _process(kraken, credentials.api_key, credentials.api_secret, state, 4, 100, *unlimited)
    second = _process(kraken, credentials.api_key, credentials.api_secret, state, 4, 100, *unlimited)
    _go(first)
    _go(second)
    results = [_result(first), _result(second)]
    assert [r["ok"] for r in results] == [400, 400], results
    assert face.rejected.get("EAPI:Invalid nonce", 0) == 0  # type: ignore[attr-defined]
    path = nonce_path(credentials.api_key, state)
    assert path.stat().st_size == FILE_SIZE
    assert json.loads(path.read_text())["last"] == face.last_nonce(credentials.api_key)  # type: ignore[attr-defined]


def test_a_restarted_process_does_not_start_from_an_empty_rate_counter(kraken: ContractEnv) -> None:
    credentials = kraken.provision("shared", {"USD": 1_000.0})
    face = kraken.server.face("kraken")
    face.set_rate_limit(credentials.api_key, 6.0, 2.0)  # type: ignore[attr-defined]
    state = kraken.tmp / "state"
    tier = ("KRAKEN_RATE_COUNTER_MAX=6", "KRAKEN_RATE_DECAY_PER_SECOND=2")  # and the default headroom of 1
    first = _process(kraken, credentials.api_key, credentials.api_secret, state, 1, 6, *tier)
    restarted = _process(kraken, credentials.api_key, credentials.api_secret, state, 1, 4, *tier)  # built, waiting
    _go(first)
    assert _result(first)["ok"] == 6  # the counter is now full
    _go(restarted)  # at once: what a bot restarted right away does first
    assert _result(restarted)["ok"] == 4
    assert face.rejected.get("EAPI:Rate limit exceeded", 0) == 0  # type: ignore[attr-defined]
