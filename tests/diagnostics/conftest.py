"""The real Kraken adapter over HTTP against the project's simulator; the verify commands run against it.

Every run goes through `Desk.run`, which also asserts that no configured secret appears anywhere
in what the command printed (stdout, stderr, JSON).
"""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer

START = 1_750_000_200.0


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.out)

    def account(self, label: str) -> dict[str, Any]:
        found = [a for a in self.data["accounts"] if a["label"] == label]
        assert found, f"{label} not in report: {[a['label'] for a in self.data['accounts']]}"
        return found[0]

    def check(self, label: str, name: str) -> dict[str, str]:
        return next(c for c in self.account(label)["checks"] if c["name"] == name)


@dataclass
class Desk:
    exchange: SimExchange
    server: SimulatorServer
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    _count: int = 0

    def provision(self, usd: float) -> Credentials:
        """A fresh simulator account with `usd` dollars and valid credentials."""
        self._count += 1
        credentials = self.server.provision("kraken", f"acct{self._count}-{self.tmp.name}", {"USD": usd})
        self.secrets.append(credentials.api_secret)
        return credentials

    def master(self, usd: float) -> Credentials:
        credentials = self.provision(usd)
        self.env["KRAKEN_MASTER_API_KEY"] = credentials.api_key
        self.env["KRAKEN_MASTER_API_SECRET"] = credentials.api_secret
        return credentials

    def user(self, user_id: str, usd: float | None, **fields: Any) -> Credentials | None:
        """A user file in the users dir and (when usd is given) its credentials in the environment."""
        users = self.tmp / "users"
        users.mkdir(exist_ok=True)
        entry = {"name": user_id.title(), "broker": "kraken", "enabled": True, "copy_from_master": True, **fields}
        (users / f"{user_id}.json").write_text(json.dumps(entry))
        if usd is None:
            return None
        credentials = self.provision(usd)
        prefix = f"KRAKEN_USER_{user_id.upper()}"
        self.env[f"{prefix}_API_KEY"] = credentials.api_key
        self.env[f"{prefix}_API_SECRET"] = credentials.api_secret
        return credentials

    def set(self, **values: str) -> None:
        for key, value in values.items():
            self.env[key.upper()] = value
            if "SECRET" in key.upper() and value:
                self.secrets.append(value)

    def run(self, command: Callable[..., int], *args: str, **options: Any) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = command([*args, "--env-file", str(self.tmp / "none.env")], out=out, err=err, environ=dict(self.env),
                       **options)
        result = Result(code, out.getvalue(), err.getvalue())
        assert_no_secret(self.secrets, result.out + result.err)
        return result

    def smallest_order(self) -> tuple[float, str]:
        """The exchange's cheapest order, computed here from the simulator's own market table."""
        best: tuple[float, str] | None = None
        for symbol, market in self.exchange.markets().items():
            if market.quote != "USD":
                continue
            price = self.exchange.ticker(symbol).last
            minimum = max(market.min_notional, market.min_base_qty * price)
            if best is None or minimum < best[0]:
                best = (minimum, symbol)
        assert best is not None
        return best


def assert_no_secret(secrets: list[str], text: str) -> None:
    for secret in secrets:
        if not secret:
            continue
        assert secret not in text, "a configured secret appeared in the output"
        # also no long piece of it (a secret cut or re-wrapped in the output)
        for start in range(0, max(len(secret) - 16, 1), 8):
            assert secret[start:start + 16] not in text, "part of a configured secret appeared in the output"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_kraken_secret(seed: bytes) -> str:
    """Well-formed (base64, 64 bytes) but unknown to the exchange."""
    return base64.b64encode((seed * 64)[:64]).decode()


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[SimExchange, SimulatorServer]]:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=11, n_markets=8, start_time=START), clock, seed=11)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        yield exchange, server


@pytest.fixture
def desk(simulator: tuple[SimExchange, SimulatorServer], tmp_path: Path) -> Desk:
    exchange, server = simulator
    env = {
        "KRAKEN_API_URL": server.url("kraken"),
        "LIVE_TRADING": "true",
        "NIJA_STATE_DIR": str(tmp_path / "state"),
        "NIJA_USERS_DIR": str(tmp_path / "users"),
        "EXCHANGE_TIMEOUT_SECONDS": "5",
    }
    (tmp_path / "users").mkdir()
    return Desk(exchange, server, tmp_path, env)
