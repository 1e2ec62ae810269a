"""A real Kraken adapter over HTTP against the project's simulator, with a master and followers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.brokers.base import Broker, OrderRequest, OrderResult, OrderStatus, Side, new_client_order_id
from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Credentials, Role
from bot.config.settings import Settings, load_settings
from bot.copy.followers import Follower
from bot.copy.signal import TradeSignal
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from bot.state.store import StateStore

START = 1_750_000_000.0
SYMBOL = "BTC-USD"


@dataclass
class Desk:
    """The simulated Kraken, its clock, settings pointing at it, and a state store."""

    exchange: SimExchange
    server: SimulatorServer
    clock: ManualClock
    tmp: Path
    env: dict[str, str]
    store: StateStore
    credentials: dict[str, Credentials] = field(default_factory=dict)

    def settings(self, **extra: str) -> Settings:
        return load_settings({**self.env, **{k.upper(): v for k, v in extra.items()}}, env_file=None)

    def account(
        self,
        account_id: str,
        usd: float = 0.0,
        *,
        role: Role = Role.USER,
        risk_multiplier: float = 1.0,
        enabled: bool = True,
        copy_from_master: bool = True,
        credentials: Credentials | None = None,
    ) -> AccountConfig:
        if credentials is None:
            credentials = self.credentials.get(account_id) or self.server.provision("kraken", account_id, {"USD": usd})
        self.credentials[account_id] = credentials
        return AccountConfig(
            broker="kraken", account_id=account_id, role=role, display_name=account_id, enabled=enabled,
            copy_from_master=copy_from_master, risk_multiplier=risk_multiplier, credentials=credentials,
        )

    def broker(self, account: AccountConfig, settings: Settings | None = None) -> Broker:
        return make_broker(account, settings or self.settings(), self.clock, self.tmp / "brokers")

    def follower(self, account_id: str, usd: float, **kwargs: object) -> Follower:
        account = self.account(account_id, usd, **kwargs)  # type: ignore[arg-type]
        return Follower(account, self.broker(account))

    def reopen_store(self) -> StateStore:
        """What a restarted process sees: a new connection to the same file."""
        self.store = StateStore(self.tmp / "state" / "nija.sqlite3", clock=self.clock)
        return self.store

    def base_held(self, account_id: str, asset: str = "BTC") -> float:
        balance = self.exchange.balances(account_id).get(asset)
        return balance.total if balance else 0.0


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = ManualClock(START)
    prices = SyntheticMarket(seed=11, n_markets=4, start_time=START - 86_400)
    exchange = SimExchange(prices, clock, seed=3)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        env = {
            "KRAKEN_API_URL": server.url("kraken"),
            "ORDER_LOOKUP_DELAY_SECONDS": "0",
            "NIJA_STATE_DIR": str(tmp_path / "state"),
        }
        store = StateStore(tmp_path / "state" / "nija.sqlite3", clock=clock)
        yield Desk(exchange, server, clock, tmp_path, env, store)
        store.close()


def master_trade(
    broker: Broker, side: Side, *, quote: float | None = None, base: float | None = None,
    fraction_sold: float | None = None, stop_fraction: float | None = None,
) -> TradeSignal:
    """A real master order on the simulator and the signal its fill emits."""
    equity = broker.balances().equity
    result: OrderResult = broker.place_order(
        OrderRequest(SYMBOL, side, new_client_order_id(), base_qty=base, quote_notional=quote)
    )
    if result.status is not OrderStatus.FILLED:
        result = broker.settle(result)
    assert result.status is OrderStatus.FILLED, result
    stop = result.avg_price * (1.0 - stop_fraction) if stop_fraction is not None else None
    return TradeSignal.from_fill("kraken", result, equity, fraction_sold=fraction_sold, master_stop_price=stop)
