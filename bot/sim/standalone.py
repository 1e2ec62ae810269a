"""`python -m bot.sim --state FILE` as a child process: start it, wait until it serves, kill it, restart it.

The crash tests and the chaos benchmark run the exchange in its own process so that it outlives the
bot they kill; restarting the simulator itself on the same file proves the file keeps the exchange.
Readiness is the endpoints file the simulator writes once every face is up (deleted before each
start, so an old one is never mistaken for the new process's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.sim.persistence import credentials_path, endpoints_path

T = TypeVar("T")
_POLL_SECONDS = 0.02


class SimulatorProcessError(RuntimeError):
    """The simulator process exited or did not come up in time; carries the end of its output."""


def wait_for(condition: Callable[[], T], timeout: float, what: str, alive: Callable[[], bool] | None = None) -> T:
    """Poll `condition` until it returns something truthy; a separate process is involved, so no event exists.

    Raises TimeoutError naming `what` after `timeout` real seconds, or at once when `alive` says the
    process that should make it true has died.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if alive is not None and not alive():
            raise TimeoutError(f"{what}: the process it waits for has exited")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(_POLL_SECONDS)


@dataclass
class StandaloneSimulator:
    """One `python -m bot.sim --state FILE` child. Fields are the command line's; start() may be called again."""

    state: Path
    faces: Sequence[str] = ("kraken",)
    accounts: Mapping[str, float] = field(default_factory=lambda: {"demo": 10_000.0})
    seed: int = 7
    markets: int = 6
    bar_seconds: int = 300  # the candle length the synthetic market's set-ups are drawn for
    speed: float = 1.0
    faults: str = ""
    fault_seed: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment (SIM_* settings)
    log_path: Path | None = None  # the child's output (default: beside the state file)
    startup_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)

    def command(self) -> list[str]:
        accounts = ",".join(f"{name}:{usd:g}" for name, usd in self.accounts.items())
        command = [
            sys.executable, "-m", "bot.sim", "--state", str(self.state), "--faces", ",".join(self.faces),
            "--accounts", accounts, "--seed", str(self.seed), "--markets", str(self.markets),
            "--bar-seconds", str(self.bar_seconds),
            "--speed", repr(self.speed),
        ]
        if self.faults:
            command += ["--faults", self.faults]
        if self.fault_seed is not None:
            command += ["--fault-seed", str(self.fault_seed)]
        return command

    def start(self, faults: str | None = None) -> StandaloneSimulator:
        """Start (or restart, on the same state file) and wait until every face serves; `faults` replaces the plan."""
        if self.process is not None and self.process.poll() is None:
            raise SimulatorProcessError("the simulator is already running")
        if faults is not None:
            self.faults = faults
        endpoints_file = endpoints_path(self.state)
        endpoints_file.unlink(missing_ok=True)
        log_path = self.log_path or self.state.with_name(self.state.name + ".log")
        repo = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH", "")]))
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        process = self.process

        def ready() -> dict[str, Any] | None:
            if not endpoints_file.exists():
                return None
            data: dict[str, Any] = json.loads(endpoints_file.read_text())
            return data if data.get("pid") == process.pid else None

        try:
            self.endpoints = wait_for(ready, self.startup_timeout, f"simulator on {self.state}",
                                      alive=lambda: process.poll() is None)
        except TimeoutError as error:
            self.kill()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SimulatorProcessError(f"{error}\n{tail}") from None
        return self

    def url(self, face: str) -> str:
        return str(self.endpoints["faces"][face]["url"])

    def client_env(self, face: str) -> dict[str, str]:
        """Settings a client needs besides the URL (e.g. COINBASE_CA_BUNDLE)."""
        return dict(self.endpoints["faces"][face]["env"])

    def credentials(self) -> dict[str, dict[str, str]]:
        """{"face:account": {"api_key", "api_secret"}} as the simulator wrote them."""
        data: dict[str, dict[str, str]] = json.loads(credentials_path(self.state).read_text())
        return data

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as kill -9: no clean-up, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait; a simulator that does not stop in time is killed."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def __enter__(self) -> StandaloneSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
