"""A real adapter over HTTP against the project's simulator, with a master and followers, per brokerage.

The `desk` fixture runs every copy-dispatcher and guard test once per brokerage (Kraken, Coinbase, Alpaca):
the same simulator core behind each venue's own protocol face, the real SDK adapter from make_broker.
What differs per venue (the face's order endpoint name for faults, how the venue words a refusal, what
a wrong key looks like) lives in one Venue entry, so adding a brokerage is one line in VENUES.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.brokers.base import Broker, Side, new_client_order_id
from bot.brokers.errors import TransientError
from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Credentials, Role
from bot.config.settings import Settings, load_settings
from bot.copy.dispatcher import CopyDispatcher
from bot.copy.followers import Follower
from bot.execution.ids import signal_id_for
from bot.execution.ledger import ExecutionLedger, OrderIntent
from bot.sim.exchange import SimExchange
from bot.sim.prices import PriceSource, SyntheticMarket
from bot.sim.server import SimulatorServer
from bot.state.records import CopyRecord, OrderPlan, SignalRecord
from bot.state.store import StateStore
from tests.brokers.conftest import BROKERAGES, Brokerage

START = 1_750_000_000.0
SYMBOL = "BTC-USD"
T = TypeVar("T")


def _kraken_wrong_key(real: Credentials) -> Credentials:
    """Valid base64 but not the secret the exchange knows: every private call is refused."""
    return Credentials(real.api_key, base64.b64encode(b"wrong secret" * 6).decode(), real.source)


def _coinbase_wrong_key(real: Credentials) -> Credentials:
    """A well-formed EC key the exchange never registered under this key name: every JWT fails to verify."""
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    ).decode()
    return Credentials(real.api_key, pem, real.source)


def _alpaca_wrong_key(real: Credentials) -> Credentials:
    return Credentials(real.api_key, "x" * 40, real.source, paper=True)


@dataclass(frozen=True)
class Venue:
    """What a copy test needs to know about one brokerage beyond the adapter contract's Brokerage."""

    brokerage: Brokerage  # face, order endpoint (fault target), settings pointing the adapter at the face
    refusal: str  # a forced order error the face answers as the venue refuses for lack of funds
    wrong_key: Callable[[Credentials], Credentials]  # the same key id with a secret the exchange does not know


VENUES: dict[str, Venue] = {
    "kraken": Venue(BROKERAGES["kraken"], "EOrder:Insufficient funds", _kraken_wrong_key),
    "coinbase": Venue(BROKERAGES["coinbase"], "INSUFFICIENT_FUND", _coinbase_wrong_key),
    "alpaca": Venue(BROKERAGES["alpaca"], "insufficient balance", _alpaca_wrong_key),
}


@dataclass
class Desk:
    """One brokerage's simulated exchange, its clock, settings pointing at it, and a state store."""

    name: str  # the brokerage: kraken, coinbase or alpaca
    venue: Venue
    exchange: SimExchange
    server: SimulatorServer
    clock: ManualClock
    tmp: Path
    env: dict[str, str]
    store: StateStore
    credentials: dict[str, Credentials] = field(default_factory=dict)

    @property
    def face(self) -> str:
        return self.venue.brokerage.face

    @property
    def order_endpoint(self) -> str:
        """The face's name for "place an order", which fault rules target (AddOrder, CreateOrder, submit_order)."""
        return self.venue.brokerage.order_endpoint

    def settings(self, **extra: str) -> Settings:
        return load_settings({**self.env, **{k.upper(): v for k, v in extra.items()}}, env_file=None)

    def provision(self, account_id: str, usd: float) -> Credentials:
        credentials = self.server.provision(self.face, account_id, {"USD": usd})
        self.venue.brokerage.after_provision(self.server, credentials)
        return credentials

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
            credentials = self.credentials.get(account_id) or self.provision(account_id, usd)
        self.credentials[account_id] = credentials
        return AccountConfig(
            broker=self.name, account_id=account_id, role=role, display_name=account_id, enabled=enabled,
            copy_from_master=copy_from_master, risk_multiplier=risk_multiplier, credentials=credentials,
        )

    def broker(self, account: AccountConfig, settings: Settings | None = None) -> Broker:
        return make_broker(account, settings or self.settings(), self.clock, self.tmp / "brokers")

    def follower(self, account_id: str, usd: float, **kwargs: object) -> Follower:
        account = self.account(account_id, usd, **kwargs)  # type: ignore[arg-type]
        return Follower(account, self.broker(account))

    def label(self, account_id: str) -> str:
        return f"{self.name}:{account_id}"

    def reopen_store(self) -> StateStore:
        """What a restarted process sees: a new connection to the same file."""
        self.store = StateStore(self.tmp / "state" / "nija.sqlite3", clock=self.clock)
        return self.store

    def base_held(self, account_id: str, asset: str = "BTC") -> Decimal:
        """What the exchange holds, as the decimal its balance answer gives: the simulator keeps floats, so its
        figure is read to 1e-10 (finer than any venue's lot, coarser than float noise)."""
        balance = self.exchange.balances(account_id).get(asset)
        return Decimal(repr(balance.total)).quantize(Decimal("1e-10")).normalize() if balance else Decimal(0)


@contextmanager
def open_desk(name: str, tmp_path: Path, prices: PriceSource | None = None, start: float = START) -> Iterator[Desk]:
    """One brokerage's simulated exchange on a manual clock at `start` (prices: a seeded synthetic market)."""
    venue = VENUES[name]
    clock = ManualClock(start)
    prices = prices or SyntheticMarket(seed=11, n_markets=4, start_time=start - 86_400)
    exchange = SimExchange(prices, clock, seed=3)
    with SimulatorServer(exchange, faces=(venue.brokerage.face,)) as server:
        env = {
            **venue.brokerage.settings_env(server),
            "ORDER_LOOKUP_DELAY_SECONDS": "0",
            "NIJA_STATE_DIR": str(tmp_path / "state"),
        }
        store = StateStore(tmp_path / "state" / "nija.sqlite3", clock=clock)
        desk = Desk(name, venue, exchange, server, clock, tmp_path, env, store)
        yield desk
        desk.store.close()


@pytest.fixture(params=sorted(VENUES))
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    with open_desk(request.param, tmp_path) as opened:
        yield opened


@dataclass
class Team:
    """A master and its followers on one desk, wired as the trader wires them: one ledger, one dispatcher."""

    desk: Desk
    master: Broker
    followers: list[Follower]
    ledger: ExecutionLedger
    dispatcher: CopyDispatcher
    settings: Settings

    def copy(self) -> float | None:
        """One dispatcher round (what its thread runs when woken); the next due time."""
        return self.dispatcher.run_due()

    def copy_until_done(self, rounds: int = 20, until: Callable[[], bool] | None = None) -> None:
        """Dispatcher rounds, moving the clock to each due time (retries, look-ups of accepted orders that fill a
        moment later), until no copy is open, or until `until()` holds."""
        for _ in range(rounds):
            due = self.copy()
            if due is None or (until is not None and until()):
                return
            self.desk.clock.set(max(due, self.desk.clock.now()))
        raise AssertionError(f"copies still open after {rounds} rounds: {self.open_copies()}")

    def open_copies(self) -> list[CopyRecord]:
        return self.desk.store.copies(statuses=["planned", "sent"])

    def close(self) -> None:
        self.dispatcher.close()


def team(desk: Desk, followers: list[Follower], settings: Settings | None = None, usd: float = 10_000.0) -> Team:
    """The master (funded with `usd`) and these followers; every follower listed is configured for the brokerage."""
    settings = settings or desk.settings()
    master = desk.broker(desk.account("master", usd, role=Role.MASTER), settings)
    ids = [f.account_id for f in followers]
    ledger = ExecutionLedger(desk.store, settings, desk.clock, followers_of=lambda broker: ids)
    dispatcher = CopyDispatcher(desk.name, desk.store, ledger, settings, desk.clock, followers)
    return Team(desk, master, followers, ledger, dispatcher, settings)


def _answered(call: Callable[[], T], attempts: int = 50) -> T:
    """A test's own exchange call, asked again until a faulty exchange answers."""
    for _ in range(attempts - 1):
        try:
            return call()
        except TransientError:
            continue
    return call()


def master_trade(
    team: Team, side: Side, *, quote: float | None = None, base: Decimal | None = None,
    stop_fraction: float = 0.02, symbol: str = SYMBOL,
) -> SignalRecord:
    """A real master order through the ledger, as the master's thread sends it; the signal its booking made.

    The order is settled as the master's passes would (the clock stepped between look-ups), also on an exchange
    with faults on; the test's own balance read is asked again until it is answered."""
    desk = team.desk
    equity = _answered(team.master.balances).equity
    position = desk.store.get_position(desk.name, "master", symbol)
    price = desk.exchange.price(symbol)
    plan = OrderPlan(
        equity_before=equity, emits_signal=True,
        stop_distance=price * stop_fraction if side is Side.BUY else None,
        exit_reason="test" if side is Side.SELL else None,
        position_quantity=position.quantity if position is not None and side is Side.SELL else None,
    )
    intent = OrderIntent(desk.name, "master", symbol, side, "entry" if side is Side.BUY else "exit",
                         new_client_order_id(), base_qty=base,
                         quote_notional=Decimal(str(quote)) if quote is not None else None, plan=plan)
    order = team.ledger.submit(intent, team.master)
    for _ in range(50):
        if order.status == "filled":
            break
        desk.clock.advance(team.settings.exchanges.order_settle_max_seconds)
        order = team.ledger.settle(order, team.master)
    assert order.status == "filled", order
    signal = desk.store.get_signal(signal_id_for(desk.name, order.client_order_id))
    assert signal is not None
    return signal
