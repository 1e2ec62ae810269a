"""`python bot.py run` in live mode as its own process, against the simulator this process serves.

Shared by the process-level tests of issue 11 (stop, single instance, nonces beside a verify script)
and `bench.py stop`. The exchange runs here, in-process, so a test reads what really reached it
(every order with its arrival time, every refused nonce or rate-limited call) and changes its faults
(latency) while the bot runs; the bot is a separate process that gets real signals. The master trades
soon and often through ordinary settings (the crash harness's LOOSE_STRATEGY and FAST_PACE).

Waiting is polling with a deadline (``wait_for``): the bot is another process, no event can be shared.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.accounts import Credentials
from bot.config.settings import load_settings
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange, SimOrder
from bot.sim.prices import make_price_source
from bot.sim.server import SimulatorServer
from bot.sim.standalone import wait_for
from scripts.benchmarks._crash_harness import SIM_ENV, bot_environment, read_store, write_follower_files

REPO = Path(__file__).resolve().parents[2]
BROKER = "kraken"
TRACEBACK = re.compile(r"^Traceback \(most recent call last\)", re.MULTILINE)
# The time a stop may take: the bot's own setting (the harness's environment leaves it at its default).
STOP_LIMIT_SECONDS = load_settings({}, env_file=None).trader.shutdown_timeout_seconds
LATE_ORDER_MARGIN_SECONDS = 0.2  # a store row this much after the signal was started after it (the machine's jitter)


@dataclass
class BotProcess:
    """One `python bot.py` process; its stdout and stderr go to one log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    signalled_at: float | None = None  # time.monotonic() of the first signal sent
    signalled_wall: float | None = None  # time.time() of the same moment (to compare with exchange times)
    exited_at: float | None = None  # time.monotonic() when wait_exit saw the process end

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_text(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait until the output matches `pattern` (a regex); the match."""
        regex = re.compile(pattern, re.MULTILINE)

        def seen() -> str | None:
            found = regex.search(self.text())
            return found.group(0) if found else None

        try:
            return wait_for(seen, timeout, f"bot output matching {pattern!r}", alive=lambda: self.alive)
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- bot output ---\n{self.text()[-4000:]}") from None

    def printed_traceback(self) -> bool:
        """A traceback or a store used after it closed in the output: the stop was not clean."""
        text = self.text()
        return bool(TRACEBACK.search(text)) or "closed database" in text

    def send(self, sig: int = signal.SIGTERM) -> None:
        if self.signalled_at is None:
            self.signalled_at, self.signalled_wall = time.monotonic(), time.time()
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None when still running after `timeout`; the moment of the exit is kept."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return code

    def stop_seconds(self) -> float:
        """Seconds from the first signal to the process's end (after wait_exit saw it end)."""
        assert self.signalled_at is not None and self.exited_at is not None
        return self.exited_at - self.signalled_at

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait(timeout=30)


@dataclass
class LiveExchange:
    """The simulated Kraken served by this process, a funded master and followers, and the bot's directories."""

    root: Path
    followers: Mapping[str, float] = field(default_factory=lambda: {"alice": 2_500.0, "bob": 400.0})
    master_usd: float = 10_000.0
    seed: int = 5
    markets: int = 6
    clock_offset_seconds: float = 0.0  # the exchange's clock minus this machine's (a skewed exchange clock)
    exchange: SimExchange | None = None
    server: SimulatorServer | None = None
    credentials: dict[str, Credentials] = field(default_factory=dict)
    bots: list[BotProcess] = field(default_factory=list)

    def start(self) -> LiveExchange:
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time() + self.clock_offset_seconds
        simulator = load_settings(SIM_ENV, env_file=None).simulator
        prices = make_price_source(None, self.seed, self.markets, now, bar_seconds=60)
        self.exchange = SimExchange(prices, SimClock(now, 1.0), seed=self.seed, settings=simulator)
        self.server = SimulatorServer(self.exchange, faces=(BROKER,)).start()
        for name, usd in {"master": self.master_usd, **self.followers}.items():
            self.credentials[name] = self.server.provision(BROKER, name, {"USD": usd})
        write_follower_files(self.root, self.followers)
        return self

    def close(self) -> None:
        for bot in self.bots:
            bot.kill()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> LiveExchange:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- what reached the exchange ----------------------------------------------------------------------
    @property
    def rejected(self) -> dict[str, int]:
        """Kraken error string -> how many requests the exchange refused with it."""
        assert self.server is not None
        return dict(self.server.face(BROKER).rejected)  # type: ignore[attr-defined]

    @property
    def invalid_nonces(self) -> int:
        return self.rejected.get("EAPI:Invalid nonce", 0)

    def orders(self) -> list[SimOrder]:
        assert self.exchange is not None
        return [order for name in self.credentials for order in self.exchange.orders(name)]

    def private_calls(self, account: str = "master") -> int:
        """Private requests the exchange accepted from this account's key so far."""
        assert self.server is not None
        key = self.server.face(BROKER)._keys[self.credentials[account].api_key]  # type: ignore[attr-defined]
        return int(key.calls)

    def set_latency(self, seconds: float) -> None:
        assert self.exchange is not None
        self.exchange.faults.clear()
        if seconds:
            self.exchange.faults.set(face=BROKER, latency=seconds)

    # ---- the bot -------------------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def environment(self, **extra: str) -> dict[str, str]:
        assert self.server is not None
        keys = {name: (c.api_key, c.api_secret) for name, c in self.credentials.items()}
        return bot_environment(self.root, self.server.url(BROKER), keys, extra)

    def start_bot(self, *argv: str, **extra: str) -> BotProcess:
        log_path = self.root / f"bot-{len(self.bots) + 1}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(REPO / "bot.py"), *(argv or ("run",))], cwd=self.root,
                env=self.environment(**extra), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                umask=0o022,  # the usual default: files must be private whatever it is
            )
        bot = BotProcess(process, log_path)
        self.bots.append(bot)
        return bot

    def run_script(
        self, script: str, *argv: str, timeout: float = 120.0, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """One of scripts/verify_*.py with the bot's environment (same keys, same state directory)."""
        return subprocess.run(
            [sys.executable, str(REPO / "scripts" / script), *argv], cwd=self.root, env=self.environment(**extra),
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    # ---- the bot's store ----------------------------------------------------------------------------------
    def store_rows(self, sql: str) -> list[tuple[object, ...]]:
        return read_store(self.state_dir / "nija.sqlite3", sql)

    def orders_started_after_signal(self, bot: BotProcess) -> list[str]:
        """Client order ids the store recorded as created after the bot's first signal: a stop must start none."""
        assert bot.signalled_wall is not None
        rows = self.store_rows("SELECT client_order_id, created_at FROM orders")
        return [str(order_id) for order_id, created_at in rows
                if float(created_at) > bot.signalled_wall + LATE_ORDER_MARGIN_SECONDS]

    def passes_by_account(self) -> dict[str, int]:
        """Passes each account's thread has made (the health table), by account id: one query for them all."""
        return {str(a): int(c) for a, c in self.store_rows("SELECT account_id, cycles FROM health")}

    def passes(self, account: str = "master") -> int:
        """One account's passes (callers that watch one account, e.g. tests/e2e/test_one_instance.py)."""
        return self.passes_by_account().get(account, 0)
