"""A key the exchange refuses is AUTH_FAILED, whatever HTTP status the venue answers it with, never UNREACHABLE.

Alpaca answers a refused key with 401 ``request is not authorized`` or 403 ``{"message": "forbidden."}``;
Coinbase with 401 UNAUTHENTICATED, or 403 PERMISSION_DENIED for a key without the scope. Each goes
through the real adapter against its simulator face, then the probe and the classification the trader uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.accounts.probe import ProbeOutcome, connect_and_probe
from bot.accounts.states import AccountState, classify_account
from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, AccountRegistry, Credentials, Role
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from tests.brokers.conftest import BROKERAGES, START, ContractEnv


@pytest.fixture(params=["alpaca", "coinbase"])
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContractEnv]:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=3, n_markets=6, start_time=START), clock, seed=3)
    with SimulatorServer(exchange, faces=(request.param,)) as server:
        yield ContractEnv(BROKERAGES[request.param], request.param, exchange, server, clock, tmp_path)


def _classified(env: ContractEnv, credentials: Credentials) -> tuple[str, AccountState, str, str]:
    account = AccountConfig(env.name, "master", Role.MASTER, "master", copy_from_master=False,
                            credentials=credentials, credential_state="ok")
    settings = env.settings()
    _, probe = connect_and_probe(account, settings, env.clock, env.tmp / "state", make_broker)
    status = classify_account(account, probe, AccountRegistry([account]), settings)
    return probe.outcome, status.state, status.reason, status.fix


REFUSALS: dict[str, dict[str, Callable[[ContractEnv, Credentials], Credentials]]] = {
    "alpaca": {
        "403 forbidden.": lambda env, real: Credentials(real.api_key, "x" * 40, "ALPACA_MASTER", paper=True),
        "401 request is not authorized": lambda env, real: Credentials("PKNOSUCHKEY000000000", real.api_secret,
                                                                       "ALPACA_MASTER", paper=True),
    },
    "coinbase": {
        "403 PERMISSION_DENIED": lambda env, real: _denied(env, real),
        "401 UNAUTHENTICATED": lambda env, real: Credentials("organizations/o/apiKeys/none", real.api_secret,
                                                             "COINBASE_MASTER"),
    },
}


def _denied(env: ContractEnv, real: Credentials) -> Credentials:
    env.exchange.faults.set(face="coinbase", endpoint="ListAccounts", forced_error="PERMISSION_DENIED")
    return real


def test_a_refused_key_is_auth_failed_never_unreachable(venue: ContractEnv) -> None:
    real = venue.provision("master", {"USD": 1_000.0})
    for how, refused in REFUSALS[venue.name].items():
        venue.exchange.faults.clear()
        outcome, state, reason, fix = _classified(venue, refused(venue, real))
        assert (outcome, state) == (ProbeOutcome.AUTH_REFUSED, AccountState.AUTH_FAILED), (how, reason)
        assert how.split()[0] in reason and "check the network" not in fix, (how, reason, fix)
    venue.exchange.faults.clear()
    assert _classified(venue, real)[1] is not AccountState.AUTH_FAILED  # the real key still works
