"""Paper mode: the exchange simulator in-process, a demo master and demo followers per brokerage.

The demo accounts are provisioned on the simulator with keys the simulator issues itself (they open nothing
but this local simulator) and registered with the log redaction. The same adapters as live trading talk to the
simulator over 127.0.0.1, and time runs SIM_SPEED x real time (SimClock) so a newcomer sees entries, exits
and copies within seconds. Paper mode keeps its own state directory apart from the live one: the paper store
and the simulator's file (bot/sim/persistence.py, 0600) side by side, so paper results survive a restart;
`python bot.py run --fresh` starts over.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.config.accounts import AccountConfig, AccountRegistry, Credentials, Role
from bot.config.settings import Settings, all_env_names
from bot.logsetup import register_secrets
from bot.sim.catalog import STOCKS, MarketSpec
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange
from bot.sim.persistence import MarketParams, SimStateError, SimStateFile
from bot.sim.reload import open_exchange
from bot.sim.server import SimulatorServer
from bot.state.instance_lock import LOCK_FILE_NAME
from bot.state.store import DEFAULT_FILE_NAME
from bot.trading.modes import PAPER_SUBDIR, paper_state_dir

log = logging.getLogger(__name__)

SIM_STATE_FILE = "simulator.sqlite3"  # the paper exchange, beside the paper store


@dataclass
class PaperSession:
    """The running simulator and what the trader needs to trade on it."""

    exchange: SimExchange
    server: SimulatorServer
    clock: Clock
    settings: Settings
    registry: AccountRegistry
    exchange_ids: dict[str, str]  # account label -> the simulator's account id
    state: SimStateFile
    market: MarketParams  # the market traded (a resumed file's own)
    resumed: bool  # the simulator's file already held this paper exchange

    def close(self) -> None:
        self.server.stop()
        self.state.close()


def _simulator_environment(server: SimulatorServer, brokers: Sequence[str]) -> dict[str, str]:
    """The settings variables that point each brokerage's adapter at its simulator face."""
    env: dict[str, str] = {}
    for broker in brokers:
        url = server.url(broker)
        if broker == "kraken":
            env["KRAKEN_API_URL"] = url
        elif broker == "coinbase":
            env["COINBASE_API_URL"] = url.split("://", 1)[-1]  # the SDK takes host:port and adds https itself
        elif broker == "alpaca":
            env["ALPACA_API_URL"] = url
            env["ALPACA_DATA_URL"] = url
        env.update(server.client_settings(broker))
    return env


def paper_settings(
    settings: Settings, server: SimulatorServer, brokers: Sequence[str], state_dir: Path, speed: float
) -> Settings:
    """The settings with every brokerage pointed at the simulator, no start-up staggering, and the passes
    spaced in real time too (at 600x a 15 s exit pass would come 40 times a real second per account)."""
    names = all_env_names()
    t, paper = settings.trader, settings.paper
    floor = paper.paper_min_pass_real_seconds * speed
    updates: dict[str, dict[str, object]] = {
        "general": {"state_dir": state_dir, "database_url": None},
        "trader": {
            "thread_stagger_seconds": 0.0, "first_wait_min_seconds": 0.0, "first_wait_max_seconds": 0.0,
            "monitor_seconds": max(t.monitor_seconds, floor),
            "low_capital_monitor_seconds": max(t.low_capital_monitor_seconds, floor),
            "strategy_cycle_seconds": max(t.strategy_cycle_seconds, floor),
        },
        "strategy": {"candle_minutes": paper.paper_candle_minutes},
        "copy_trading": {"master_offline_seconds": max(
            settings.copy_trading.master_offline_seconds, paper.paper_master_offline_real_seconds * speed
        )},
    }
    for name, value in _simulator_environment(server, brokers).items():
        section, field = names[name]
        updates.setdefault(section, {})[field] = value
    # Validated like any setting: the faces hand over text (e.g. fee rates) that must become numbers.
    return settings.model_copy(update={
        section: type(getattr(settings, section)).model_validate({**getattr(settings, section).model_dump(), **fields})
        for section, fields in updates.items()
    })


def start_paper(
    settings: Settings,
    brokers: Sequence[str] = ("kraken",),
    *,
    data_dir: Path | None = None,
    speed: float | None = None,
    seed: int | None = None,
    clock: Clock | None = None,
    start_time: float | None = None,
    fresh: bool = False,
    on_file: Callable[[Path], None] | None = None,
) -> PaperSession:
    """Start (or resume) the simulator with its demo accounts; the caller closes the session.

    The exchange lives in the paper state directory's simulator file, next to the paper store, so a restart
    carries on with the same balances, orders, positions and demo keys, its clock where it stopped. `fresh`
    empties the directory first (`python bot.py run --fresh`). A resumed exchange trades the market it was
    made with; the market-shaping options (seed, data, markets) then have no effect.
    """
    state_dir = paper_state_dir(settings)
    if fresh:
        empty_paper_dir(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    seed = settings.paper.sim_seed if seed is None else seed
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"--data {data_dir}: expected a directory of candle CSV(.gz) files")
    now = clock.now() if clock is not None else (start_time if start_time is not None else _wall_now())
    # A replay is shifted to begin far enough back that the first scan already has its candles.
    history = (settings.strategy.candle_count + 2) * settings.paper.paper_candle_minutes * 60
    market = MarketParams(
        seed=seed, markets=settings.paper.sim_markets, start_time=now - history if data_dir else now,
        data_dir=str(Path(data_dir).resolve()) if data_dir is not None else None,
        stocks=tuple(spec.symbol for spec in paper_stocks(brokers)),
        bar_seconds=settings.paper.paper_candle_minutes * 60,
    )
    speed = speed or settings.paper.sim_speed
    try:
        opened = open_exchange(state_dir / SIM_STATE_FILE, market, speed=speed, start=start_time,
                               resume_clock="paused", clock=clock, settings=settings.simulator, on_file=on_file)
    except SimStateError as error:
        raise ValueError(f"{error} (python bot.py run --fresh starts paper mode over)") from None
    exchange = opened.exchange
    server = SimulatorServer(exchange, faces=tuple(brokers))
    try:
        server.start()
        registry, ids = _demo_accounts(server, settings, brokers)
    except BaseException:
        server.stop()
        opened.state.close()
        raise
    # A test's ManualClock has no speed: simulated and "real" seconds are the same there.
    scale = speed if isinstance(exchange.clock, SimClock) else 1.0
    return PaperSession(exchange, server, exchange.clock, paper_settings(settings, server, brokers, state_dir, scale),
                        registry, ids, opened.state, opened.market, opened.resumed)


def paper_store_path(settings: Settings) -> Path:
    """The paper store, beside the simulator's file in the paper state directory (never the live store)."""
    return paper_state_dir(settings) / DEFAULT_FILE_NAME


def empty_paper_dir(directory: Path) -> None:
    """Delete paper mode's results (store, simulator file, demo keys' nonces); never anything else, and never
    the lock this run holds on the directory (deleting a held lock file would let a second bot lock a new one)."""
    if directory.name != PAPER_SUBDIR:
        raise ValueError(f"{directory} is not a paper-mode state directory; refusing to empty it")
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name == LOCK_FILE_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def paper_stocks(brokers: Sequence[str]) -> tuple[MarketSpec, ...]:
    """The stock markets the simulator offers when Alpaca is traded; only the Alpaca face lists them."""
    return STOCKS if "alpaca" in brokers else ()


def _demo_accounts(
    server: SimulatorServer, settings: Settings, brokers: Sequence[str]
) -> tuple[AccountRegistry, dict[str, str]]:
    registry = AccountRegistry()
    ids: dict[str, str] = {}
    paper = settings.paper

    def add(broker: str, account_id: str, role: Role, usd: float, name: str) -> None:
        exchange_id = f"{broker}-{account_id}"
        credentials: Credentials = server.provision(broker, exchange_id, {"USD": usd}, reuse=True)
        register_secrets([credentials.api_key, credentials.api_secret])
        registry.accounts.append(
            AccountConfig(
                broker=broker, account_id=account_id, role=role, display_name=name,
                copy_from_master=role is Role.USER, credentials=credentials, credential_state="ok",
                source="paper mode (demo account on the simulator)", demo=True,
            )
        )
        ids[f"{broker}:{account_id}"] = exchange_id

    for broker in brokers:
        add(broker, "master", Role.MASTER, paper.paper_master_balance, f"{broker.capitalize()} demo master")
        for index, usd in enumerate(paper.paper_follower_balances, start=1):
            add(broker, f"demo_user_{index}", Role.USER, usd, f"Demo follower {index}")
    return registry, ids


def _wall_now() -> float:
    return float(int(time.time()))
