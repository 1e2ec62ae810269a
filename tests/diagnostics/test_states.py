"""The one account-state classification (bot.accounts.states): branches the simulator cases do not reach,
the probe's exception mapping, and a permission error from the simulated exchange.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

import pytest

from bot.accounts.states import (
    RECHECK_STATES,
    THREAD_STATES,
    AccountState,
    AccountStatus,
    ProbeOutcome,
    ProbeResult,
    classify_account,
    master_heartbeat_problem,
    probe_account,
)
from bot.brokers.base import (
    AssetBalance,
    BalanceSnapshot,
    MarketInfo,
    Ticker,
)
from bot.brokers.errors import AuthenticationError, BrokerError, ExchangeUnavailable, NonceError, RateLimitError
from bot.config.accounts import AccountConfig, AccountRegistry, Credentials, Role
from bot.config.settings import Settings, load_settings
from bot.diagnostics.checks import count_holdings
from bot.diagnostics.commands import verify_kraken
from tests.diagnostics.conftest import Desk
from tests.trading.stand_in_exchange import StandInExchange

KEY = Credentials(api_key="PUBLICKEY0000abcd", api_secret="c2VjcmV0LXNlY3JldA==", source="KRAKEN_MASTER")


def settings(**env: str) -> Settings:
    return load_settings({k.upper(): v for k, v in env.items()}, env_file=None)


def master(**fields: object) -> AccountConfig:
    values: dict[str, object] = {"credentials": KEY, "credential_state": "ok", **fields}
    return AccountConfig("kraken", "master", Role.MASTER, "Kraken master", copy_from_master=False, **values)  # type: ignore[arg-type]


def user(user_id: str = "alice", **fields: object) -> AccountConfig:
    values: dict[str, object] = {
        "credentials": Credentials(f"USERKEY{user_id}9876", "dXNlcg==", f"KRAKEN_USER_{user_id.upper()}"),
        "credential_state": "ok",
        "source": f"config/users/{user_id}.json",
        **fields,
    }
    return AccountConfig("kraken", user_id, Role.USER, user_id.title(), **values)  # type: ignore[arg-type]


def funded(equity: float, minimum: float | None = 5.0) -> ProbeResult:
    return ProbeResult.from_snapshot(BalanceSnapshot(equity, equity, equity=equity), minimum, "XRP-USD")


TRADING = AccountStatus(AccountState.TRADING, "runs APEX")


def test_state_sets_are_consistent() -> None:
    assert AccountState.TRADING in THREAD_STATES and AccountState.FOLLOWING in THREAD_STATES
    assert AccountState.BELOW_MINIMUM in THREAD_STATES  # positions it holds keep their exits
    for state in (AccountState.UNFUNDED, AccountState.NO_CREDENTIALS, AccountState.AUTH_FAILED,
                  AccountState.DISABLED, AccountState.UNREACHABLE, AccountState.BAD_CREDENTIALS):
        assert state not in THREAD_STATES
    assert {AccountState.UNFUNDED, AccountState.UNREACHABLE, AccountState.BELOW_MINIMUM} == RECHECK_STATES
    assert AccountStatus(AccountState.FOLLOWING, "").will_trade
    assert not AccountStatus(AccountState.ENTRY_BLOCKED, "").will_trade


@pytest.mark.parametrize(
    ("error", "outcome", "reachable"),
    [
        (AuthenticationError("bad key", raw=["EAPI:Invalid key"]), ProbeOutcome.AUTH_REFUSED, True),
        (ExchangeUnavailable("down"), ProbeOutcome.UNREACHABLE, False),
        (RateLimitError("slow down"), ProbeOutcome.UNREACHABLE, False),
        (NonceError("nonce"), ProbeOutcome.UNREACHABLE, False),
        (BrokerError("odd answer"), ProbeOutcome.ERROR, True),
    ],
)
def test_probe_maps_the_error_tree(error: BrokerError, outcome: str, reachable: bool) -> None:
    result = ProbeResult.from_error(error)
    assert result.outcome == outcome and result.reachable is reachable
    assert result.error_type == type(error).__name__


def test_probe_sends_nothing_without_usable_credentials() -> None:
    assert probe_account(user(enabled=False), None).outcome == ProbeOutcome.NOT_ATTEMPTED
    no_key = user(credentials=None, credential_state="missing", credential_problem="no credentials")
    result = probe_account(no_key, None)
    assert not result.attempted and result.error == "no credentials"


def test_conflicting_aliases_are_bad_credentials() -> None:
    problem = ("KRAKEN_MASTER_API_KEY/_API_SECRET and KRAKEN_API_KEY/_API_SECRET are both set and differ: "
               "keep only KRAKEN_MASTER_*")
    account = master(credentials=None, credential_state="conflict", credential_problem=problem)
    status = classify_account(account, ProbeResult.not_attempted(), AccountRegistry([account]), settings())
    assert status.state is AccountState.BAD_CREDENTIALS and status.reason == problem
    assert status.fix.startswith("keep only KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET set")


def test_alpaca_paper_flag_fix_names_the_variable() -> None:
    account = AccountConfig("alpaca", "master", Role.MASTER, "Alpaca master", credential_state="malformed",
                            credential_problem="ALPACA_MASTER_PAPER='maybe': expected true or false")
    status = classify_account(account, ProbeResult.not_attempted(), AccountRegistry([account]), settings())
    assert status.state is AccountState.BAD_CREDENTIALS
    assert status.fix == "set ALPACA_MASTER_PAPER to true (paper account) or false (live account)"


def test_follower_waits_for_its_masters_status() -> None:
    registry = AccountRegistry([master(), user()])
    status = classify_account(user(), funded(1000), registry, settings(), None)
    assert status.state is AccountState.MASTER_OFFLINE
    assert status.reason == "it follows kraken:master, whose state is not known yet"
    following = classify_account(user(), funded(1000), registry, settings(), TRADING)
    assert following.state is AccountState.FOLLOWING


def test_follower_without_any_master_configured() -> None:
    registry = AccountRegistry([user()])
    status = classify_account(user(), funded(1000), registry, settings(), None)
    assert status.state is AccountState.MASTER_OFFLINE
    assert "no kraken master is configured" in status.reason
    assert status.fix.startswith("set KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET")


def test_independent_user_ignores_a_broken_master() -> None:
    registry = AccountRegistry([master(), user(copy_from_master=False)])
    broken = AccountStatus(AccountState.AUTH_FAILED, "refused", "fix keys")
    status = classify_account(user(copy_from_master=False), funded(1000), registry, settings(), broken)
    assert status.state is AccountState.TRADING and '"copy_from_master": false' in status.reason


def test_strategy_account_below_minimum_uses_position_max_fraction() -> None:
    status = classify_account(master(), funded(30.0, minimum=5.0), AccountRegistry([master()]), settings())
    assert status.state is AccountState.BELOW_MINIMUM
    assert "POSITION_MAX_FRACTION 10% of equity 30.00 USD = 3.00 USD" in status.reason
    assert status.fix == "deposit at least 20.00 USD (to reach 50.00 USD), or raise POSITION_MAX_FRACTION"
    roomy = classify_account(master(), funded(30.0, minimum=5.0), AccountRegistry([master()]),
                             settings(position_max_fraction="0.2"))
    assert roomy.state is AccountState.TRADING


def test_unknown_minimum_does_not_invent_one() -> None:
    status = classify_account(master(), funded(1.0, minimum=None), AccountRegistry([master()]), settings())
    assert status.state is AccountState.TRADING


def test_heartbeat_problem() -> None:
    s = settings(master_offline_seconds="600")
    assert master_heartbeat_problem(1000.0, 1500.0, s) is None
    assert master_heartbeat_problem(None, 1500.0, s) is not None
    stale = master_heartbeat_problem(1000.0, 1700.0, s)
    assert stale == "its master's last heartbeat was 700 s ago, over MASTER_OFFLINE_SECONDS=600"


def test_holdings_count_ignores_cash_and_dust() -> None:
    snapshot = BalanceSnapshot(
        100.0, 100.0,
        assets={"USD": AssetBalance("USD", Decimal(100), Decimal(100)),
                "BTC": AssetBalance("BTC", Decimal("0.001"), Decimal("0.001")),
                "DOGE": AssetBalance("DOGE", Decimal(1), Decimal(1))},
        prices_usd={"USD": 1.0, "BTC": 60_000.0, "DOGE": 0.1}, equity=160.1,
    )
    probe = ProbeResult.from_snapshot(snapshot, 5.0, "XRP-USD")
    assert count_holdings(probe, ("USD",)) == 1  # BTC worth 60 USD; DOGE worth 0.10 USD is dust


@pytest.fixture
def permission_fault(desk: Desk) -> Iterator[Desk]:
    desk.exchange.faults.set(face="kraken", endpoint="BalanceEx", forced_error="EGeneral:Permission denied",
                             error_rate=1.0)
    try:
        yield desk
    finally:
        desk.exchange.faults.clear()


def test_missing_permission_says_which_to_grant(permission_fault: Desk) -> None:
    permission_fault.master(10_000)
    result = permission_fault.run(verify_kraken, "--json")
    assert result.code == 1
    master_report = result.account("kraken:master")
    assert master_report["state"] == "AUTH_FAILED"
    assert master_report["reason"].endswith("(EGeneral:Permission denied)")
    assert master_report["fix"].startswith("grant the key Query Funds, Query Open Orders & Trades")
    assert "Kraken > Settings > API" in master_report["fix"]


class EchoingExchange(StandInExchange):
    """A stand-in exchange whose error message echoes the request, secret included (an SDK trap)."""

    name = "kraken"

    def __init__(self, secret: str) -> None:
        super().__init__(account_label="kraken:master")
        self.secret = secret

    def _load_markets(self) -> dict[str, MarketInfo]:
        return {}

    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        return {}

    def balances(self) -> BalanceSnapshot:
        raise AuthenticationError(f"refused request with secret={self.secret}")


def test_probe_scrubs_a_secret_an_sdk_echoes() -> None:
    result = probe_account(master(), EchoingExchange(KEY.api_secret))
    assert result.outcome == ProbeOutcome.AUTH_REFUSED
    assert KEY.api_secret not in result.error and "secret=[secret]" in result.error
    status = classify_account(master(), result, AccountRegistry([master()]), settings())
    assert status.state is AccountState.AUTH_FAILED and KEY.api_secret not in status.reason + status.fix
