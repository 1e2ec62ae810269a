"""Paper mode: the exchange simulator in-process, a demo master and demo followers per brokerage.

The demo accounts are provisioned on the simulator with credentials generated in memory (never
written anywhere) and registered with the log redaction. The same adapters as live trading talk to
the simulator over 127.0.0.1, and time runs SIM_SPEED x real time (SimClock) so a newcomer sees
entries, exits and copies within a minute. Paper mode keeps its own state store (a fresh one per
run, because the simulator starts fresh), apart from the live one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.config.accounts import AccountConfig, AccountRegistry, Credentials, Role
from bot.config.settings import Settings, all_env_names
from bot.logsetup import register_secrets
from bot.sim.catalog import STOCKS, MarketSpec
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange
from bot.sim.prices import make_price_source
from bot.sim.server import SimulatorServer
from bot.trading.modes import paper_state_dir

log = logging.getLogger(__name__)



@dataclass
class PaperSession:
    """The running simulator and what the trader needs to trade on it."""

    exchange: SimExchange
    server: SimulatorServer
    clock: Clock
    settings: Settings
    registry: AccountRegistry
    exchange_ids: dict[str, str]  # account label -> the simulator's account id

    def close(self) -> None:
        self.server.stop()


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
) -> PaperSession:
    """Start the simulator with demo accounts; the caller closes the session (server.stop)."""
    seed = settings.paper.sim_seed if seed is None else seed
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"--data {data_dir}: expected a directory of candle CSV(.gz) files")
    now = clock.now() if clock is not None else (start_time if start_time is not None else _wall_now())
    # A replay is shifted to begin far enough back that the first scan already has its candles.
    history = (settings.strategy.candle_count + 2) * settings.paper.paper_candle_minutes * 60
    prices = make_price_source(data_dir, seed, settings.paper.sim_markets, now - history if data_dir else now,
                               stocks=paper_stocks(brokers), bar_seconds=settings.paper.paper_candle_minutes * 60)
    speed = speed or settings.paper.sim_speed
    if clock is None:
        clock = SimClock(now, speed)
    exchange = SimExchange(prices, clock, seed=seed, settings=settings.simulator)  # the SIM_* settings apply
    server = SimulatorServer(exchange, faces=tuple(brokers))
    server.start()
    try:
        registry, ids = _demo_accounts(server, settings, brokers)
    except Exception:
        server.stop()
        raise
    state_dir = paper_state_dir(settings)
    # A test's ManualClock has no speed: simulated and "real" seconds are the same there.
    scale = speed if isinstance(clock, SimClock) else 1.0
    return PaperSession(exchange, server, clock, paper_settings(settings, server, brokers, state_dir, scale),
                        registry, ids)


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
        credentials: Credentials = server.provision(broker, exchange_id, {"USD": usd})
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
