"""Per-brokerage set-up for the adapter contract suite: a simulator face, a funded account, a real adapter.

Add a brokerage with one entry in BROKERAGES (which face to serve, which settings point the adapter at
it, how its order endpoint is named for faults) and one class in tests/brokers/test_contract.py that
inherits the whole contract (tests/brokers/contract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.brokers.base import Broker
from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Credentials, Role
from bot.config.settings import Settings, load_settings
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer

START = 1_750_000_000.0


@dataclass(frozen=True)
class Brokerage:
    face: str  # simulator face name
    order_endpoint: str  # the face's endpoint name for placing an order (fault injection targets it)
    symbol: str  # a liquid market on the face
    settings_env: Callable[[SimulatorServer], dict[str, str]]  # env pointing the adapter at the face
    after_provision: Callable[[SimulatorServer, Credentials], None] = lambda server, credentials: None


def _kraken_env(server: SimulatorServer) -> dict[str, str]:
    return {"KRAKEN_API_URL": server.url("kraken"), "KRAKEN_RATE_COUNTER_MAX": "1000000",
            "KRAKEN_RATE_DECAY_PER_SECOND": "1000000"}


def _kraken_unlimited(server: SimulatorServer, credentials: Credentials) -> None:
    server.face("kraken").set_rate_limit(credentials.api_key, 1e6, 1e6)  # type: ignore[attr-defined]


def _coinbase_env(server: SimulatorServer) -> dict[str, str]:
    return {"COINBASE_API_URL": server.url("coinbase"), **server.client_settings("coinbase")}


def _alpaca_env(server: SimulatorServer) -> dict[str, str]:
    return {"ALPACA_API_URL": server.url("alpaca"), "ALPACA_DATA_URL": server.url("alpaca"),
            "ALPACA_SDK_RETRY_WAIT_SECONDS": "0", **server.client_settings("alpaca")}


BROKERAGES: dict[str, Brokerage] = {
    "kraken": Brokerage("kraken", "AddOrder", "BTC-USD", _kraken_env, _kraken_unlimited),
    "coinbase": Brokerage("coinbase", "CreateOrder", "BTC-USD", _coinbase_env),
    "alpaca": Brokerage("alpaca", "submit_order", "BTC-USD", _alpaca_env),
}


@dataclass
class ContractEnv:
    """One running simulator face and the means to build funded adapters against it."""

    brokerage: Brokerage
    name: str
    exchange: SimExchange
    server: SimulatorServer
    clock: ManualClock
    tmp: Path
    accounts: dict[str, Credentials] = field(default_factory=dict)

    def settings(self, **extra: str) -> Settings:
        env = {"NIJA_STATE_DIR": str(self.tmp / "state"), "ORDER_LOOKUP_DELAY_SECONDS": "0",
               "EXCHANGE_TIMEOUT_SECONDS": "2", **self.brokerage.settings_env(self.server)}
        env.update({k.upper(): v for k, v in extra.items()})
        return load_settings(env, env_file=None)

    def provision(self, account_id: str, balances: dict[str, float]) -> Credentials:
        credentials = self.server.provision(self.brokerage.face, account_id, balances)
        self.brokerage.after_provision(self.server, credentials)
        self.accounts[account_id] = credentials
        return credentials

    def broker(
        self, account_id: str = "acct", balances: dict[str, float] | None = None,
        credentials: Credentials | None = None, **settings: str,
    ) -> Broker:
        if credentials is None:
            credentials = self.accounts.get(account_id) or self.provision(account_id, balances or {"USD": 10_000.0})
        account = AccountConfig(self.name, account_id, Role.MASTER, account_id, credentials=credentials)
        return make_broker(account, self.settings(**settings), self.clock, self.tmp / "brokers")


@pytest.fixture
def kraken(tmp_path: Path) -> Iterator[ContractEnv]:
    brokerage = BROKERAGES["kraken"]
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=7, n_markets=24, start_time=START), clock, seed=7)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        yield ContractEnv(brokerage, "kraken", exchange, server, clock, tmp_path)
