"""The bot in live mode against a standalone simulator, killed and restarted: shared by tests/crash and bench chaos.

A CrashLab is one exchange (``python -m bot.sim --state FILE`` in its own process, so it outlives the
bot) with a master and followers, and the bot's own state dir. Each ``life`` is one ``python bot.py
run`` process in live mode (``LIVE_TRADING=true``, the simulator's URL and keys in its environment),
optionally told to die at a named crash point (``NIJA_CRASH_AT``). The master trades soon and often
through ordinary settings (LOOSE_STRATEGY: a rule set that fires on most rising 1-minute candles,
tiny first target, 11 s holding time) and a simulator whose synthetic market draws its set-ups for
1-minute bars, without spread or slippage and with a tiny fee (the fee-aware plan skips a target that
does not clear the round trip); no test-only code path in the bot.

Everything here waits for conditions with deadlines (process exit, rows in the store), polling: the
bot and the exchange are other processes, so no event can be shared with them.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.diagnostics.ledger_audit import AuditAccount, AuditReport, PlannedStop, audit, exchange_view_from_sim_state
from bot.sim.standalone import StandaloneSimulator, wait_for

REPO = Path(__file__).resolve().parents[2]
BROKER = "kraken"

#: a master that enters on most rising 1-minute candles, takes half at a tiny first target and holds briefly
LOOSE_STRATEGY: dict[str, str] = {
    "CANDLE_MINUTES": "1", "CANDLE_COUNT": "60", "CANDLE_RETRY_SECONDS": "2",
    "ADX_MIN": "0", "RSI_OVERSOLD": "99.9", "RSI_SLOW_MAX": "99.9", "RSI_OVERBOUGHT": "99.9",
    "VOLUME_MIN_RATIO": "0", "MIN_CONFIDENCE": "0",
    "EMA_FAST_PERIOD": "2", "EMA_MID_PERIOD": "3", "EMA_SLOW_PERIOD": "5",
    "STOP_MIN_FRACTION": "0.01", "FIRST_TARGET_R": "0.03", "SECOND_TARGET_R": "0.1", "MAX_HOLD_HOURS": "0.003",
    "MAX_CONCURRENT_POSITIONS": "4", "FEE_MARGIN": "0", "KRAKEN_TAKER_FEE": "0.0001",
}
#: a pass every 2 s (Kraken's Pro tier drains one call a second per key), no start-up staggering, look-ups,
#: retries and re-checks within seconds
FAST_PACE: dict[str, str] = {
    "STRATEGY_CYCLE_SECONDS": "2", "MONITOR_SECONDS": "2", "LOW_CAPITAL_MONITOR_SECONDS": "2",
    "ORDER_SPACING_SECONDS": "0", "LOW_CAPITAL_ORDER_SPACING_SECONDS": "0",
    "THREAD_STAGGER_SECONDS": "0", "FIRST_WAIT_MIN_SECONDS": "0", "FIRST_WAIT_MAX_SECONDS": "0",
    "RECHECK_INTERVAL_SECONDS": "5", "BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "5",
    "KRAKEN_RATE_TIER": "Pro", "EXCHANGE_TIMEOUT_SECONDS": "3",
    "ORDER_LOOKUP_DELAY_SECONDS": "0.2", "UNKNOWN_ORDER_GRACE_SECONDS": "5",
    "ORDER_SETTLE_FIRST_SECONDS": "0.5", "COPY_RETRY_SECONDS": "0.5", "COPY_RETRY_MAX_SECONDS": "5",
}
#: the simulator: Kraken's top rate tier, fills at the mid price with a 0.01 % fee (so a tiny target clears it)
SIM_ENV: dict[str, str] = {"SIM_KRAKEN_RATE_TIER": "Pro", "SIM_HALF_SPREAD": "0", "SIM_SLIPPAGE_PER_10K": "0",
                           "SIM_TAKER_FEE": "0.0001", "SIM_MAKER_FEE": "0.0001"}

FINAL_ORDER_STATUSES = ("filled", "canceled", "rejected", "failed", "expired")
FINAL_COPY_STATUSES = ("filled", "failed", "skipped", "observed")
_ENTRY_LINE = re.compile(r"\[(?P<label>[\w:]+)\] ENTRY (?P<symbol>\S+): buying .* at (?P<price>[\d.e+-]+)\), "
                         r"stop (?P<stop>[\d.e+-]+)")


def read_store(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a bot's store, read-only beside the running bot; none before the store or the table exists."""
    if not path.is_file():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # a table not created yet
        return []
    finally:
        db.close()


def write_follower_files(root: Path, followers: Iterable[str]) -> None:
    """ROOT/users/NAME.json for each follower: a Kraken user copying its master."""
    users = root / "users"
    users.mkdir(parents=True, exist_ok=True)
    for name in followers:
        (users / f"{name}.json").write_text(
            f'{{"name": "{name}", "broker": "{BROKER}", "enabled": true, "copy_from_master": true}}'
        )


def bot_environment(root: Path, url: str, keys: Mapping[str, tuple[str, str]],
                    extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A live-mode `python bot.py run` against the simulated Kraken at `url`: the master's and the followers'
    (key, secret) by account name, the state in ROOT/state, user files in ROOT/users, trading soon and often."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_"))}
    env.update(LOOSE_STRATEGY)
    env.update(FAST_PACE)
    env.update({"LIVE_TRADING": "true", "NIJA_STATE_DIR": str(root / "state"), "NIJA_USERS_DIR": str(root / "users"),
                "KRAKEN_API_URL": url, "PYTHONUNBUFFERED": "1"})
    for name, (key, secret) in keys.items():
        prefix = "KRAKEN_MASTER" if name == "master" else f"KRAKEN_USER_{name.upper()}"
        env[f"{prefix}_API_KEY"], env[f"{prefix}_API_SECRET"] = key, secret
    env.update(extra or {})
    return env


@dataclass
class BotLife:
    """One `python bot.py run` process."""

    number: int
    process: subprocess.Popen[bytes]
    log_path: Path
    crash_at: str | None
    started: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def is_alive(self) -> bool:
        return self.alive

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code (-9 when killed by SIGKILL), or None if still running after `timeout`."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """kill -9."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@dataclass
class CrashLab:
    """One standalone exchange, one master and its followers, one bot state dir; bot lives come and go."""

    root: Path
    followers: Mapping[str, float] = field(default_factory=lambda: {"alice": 2_500.0, "bob": 400.0})
    master_usd: float = 10_000.0
    seed: int = 5
    markets: int = 24
    faults: str = ""
    fault_seed: int | None = None
    bot_env: Mapping[str, str] = field(default_factory=dict)  # on top of LOOSE_STRATEGY and FAST_PACE
    sim: StandaloneSimulator | None = None
    lives: list[BotLife] = field(default_factory=list)

    # ---- the exchange ---------------------------------------------------------------------------------
    def start(self) -> CrashLab:
        self.root.mkdir(parents=True, exist_ok=True)
        accounts = {"master": self.master_usd, **self.followers}
        self.sim = StandaloneSimulator(
            self.root / "exchange.db", faces=(BROKER,), accounts=accounts, seed=self.seed, markets=self.markets,
            bar_seconds=60, speed=1.0, faults=self.faults, fault_seed=self.fault_seed, env=SIM_ENV,
        ).start()
        write_follower_files(self.root, self.followers)
        return self

    def close(self) -> None:
        for life in self.lives:
            life.kill()
        if self.sim is not None:
            self.sim.stop()

    def __enter__(self) -> CrashLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store_path(self) -> Path:
        return self.root / "state" / "nija.sqlite3"

    def accounts(self) -> list[AuditAccount]:
        return [AuditAccount(BROKER, "master", "master", is_master=True)] + [
            AuditAccount(BROKER, name, name) for name in self.followers
        ]

    # ---- bot lives ------------------------------------------------------------------------------------
    def environment(self, crash_at: str | None = None, **extra: str) -> dict[str, str]:
        assert self.sim is not None and self.sim.running, "start the simulator first"
        credentials = self.sim.credentials()
        keys = {name: (credentials[f"{BROKER}:{name}"]["api_key"], credentials[f"{BROKER}:{name}"]["api_secret"])
                for name in ("master", *self.followers)}
        env = bot_environment(self.root, self.sim.url(BROKER), keys, {**self.bot_env, **extra})
        if crash_at:
            env["NIJA_CRASH_AT"] = crash_at
        return env

    def start_bot(self, crash_at: str | None = None, **extra: str) -> BotLife:
        """A new bot process on the same state dir (the previous one must be dead)."""
        if any(life.alive for life in self.lives):
            raise RuntimeError("a bot process is still running")
        number = len(self.lives) + 1
        log_path = self.root / f"bot-{number}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(REPO / "bot.py"), "run"], cwd=self.root, env=self.environment(crash_at, **extra),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        life = BotLife(number, process, log_path, crash_at)
        self.lives.append(life)
        return life

    # ---- the store ------------------------------------------------------------------------------------
    def _query(self, sql: str) -> list[tuple[object, ...]]:
        return read_store(self.store_path, sql)

    def passes(self) -> dict[str, int]:
        """Passes each account's thread has made (the health table), by account id."""
        return {str(a): int(c) for a, c in self._query("SELECT account_id, cycles FROM health")}

    def unfinished(self) -> list[str]:
        """What the store has not finished: unsettled orders, pending signals, copies not final."""
        orders = ",".join(f"'{s}'" for s in FINAL_ORDER_STATUSES)
        copies = ",".join(f"'{s}'" for s in FINAL_COPY_STATUSES)
        rows = self._query(f"SELECT 'order ' || account_id || ' ' || purpose || ' ' || status FROM orders "
                           f"WHERE status NOT IN ({orders})")
        rows += self._query("SELECT 'signal ' || signal_id || ' ' || status FROM signals WHERE status = 'pending'")
        rows += self._query(f"SELECT 'copy ' || follower_id || ' ' || status FROM copy_events "
                            f"WHERE status NOT IN ({copies})")
        return [str(r[0]) for r in rows]

    def count(self, sql: str) -> int:
        rows = self._query(sql)
        return int(rows[0][0]) if rows else 0

    # ---- scenarios --------------------------------------------------------------------------------------
    def crash_life(self, crash_at: str, timeout: float = 120.0) -> BotLife:
        """A life told to die at `crash_at`; raises AssertionError when it does not die there in time."""
        life = self.start_bot(crash_at)
        code = life.wait_exit(timeout)
        if code is None:
            life.kill()
            raise AssertionError(f"the bot never reached {crash_at} within {timeout:g} s (killed it)\n"
                                 f"{life.log_tail()}")
        if code != -signal.SIGKILL:
            raise AssertionError(f"life {life.number} exited {code} instead of dying at {crash_at}\n{life.log_tail()}")
        return life

    def settle(self, timeout: float = 90.0, passes: int = 3, attempts: int = 3) -> list[str]:
        """Restart the bot (entries blocked) and let it recover: once every account made `passes` passes and nothing
        is unfinished,
        kill it (-9); a kill that left work unfinished gets another life. Returns what is still unfinished
        (empty when the store finished everything; the audit counts the rest)."""
        accounts = [a.account_id for a in self.accounts()]
        for _ in range(attempts):
            before = self.passes()
            # No new entries in a recovery life: it finishes what was started (exits, copies, look-ups) and goes
            # quiet; a master that kept opening positions would always leave a copy in the outbox at the check.
            life = self.start_bot(ENTRY_BLOCKING="true")

            def recovered(before: dict[str, int] = before) -> bool:
                done = self.passes()
                if any(done.get(a, 0) < before.get(a, 0) + passes for a in accounts):
                    return False
                return not self.unfinished()

            try:
                wait_for(recovered, timeout, "the restarted bot to recover and finish its work", alive=life.is_alive)
            except TimeoutError:
                life.kill()
                return self.unfinished()
            life.kill()
            if not self.unfinished():
                return []
        return self.unfinished()

    def planned_stops(self) -> dict[str, PlannedStop]:
        """The master's entries as decided, from its ENTRY log lines, matched in order to its entry orders.

        Evidence for stores that keep no plan with the order (the audit prefers the store's own plan).
        """
        decided: dict[str, list[PlannedStop]] = defaultdict(list)
        for life in self.lives:
            for match in _ENTRY_LINE.finditer(life.log_path.read_text(errors="replace")):
                if match["label"] == f"{BROKER}:master":
                    decided[match["symbol"]].append(PlannedStop(float(match["price"]), float(match["stop"])))
        planned: dict[str, PlannedStop] = {}
        rows = self._query("SELECT client_order_id, symbol FROM orders WHERE account_id = 'master' "
                           "AND purpose = 'entry' ORDER BY created_at")
        seen: dict[str, int] = defaultdict(int)
        for client_order_id, symbol in rows:
            index = seen[str(symbol)]
            seen[str(symbol)] += 1
            if index < len(decided[str(symbol)]):
                planned[str(client_order_id)] = decided[str(symbol)][index]
        return planned

    def audit(self) -> AuditReport:
        assert self.sim is not None
        view = exchange_view_from_sim_state(self.sim.state)
        return audit(self.store_path, view, self.accounts(), planned_stops=self.planned_stops())


def describe(report: AuditReport, limit: int = 25) -> str:
    """The report's figures and its first problems, for an assertion message."""
    lines = [str(report.figures()), *report.problems[:limit]]
    if len(report.problems) > limit:
        lines.append(f"... and {len(report.problems) - limit} more")
    return "\n".join(lines)
