"""Talk to one account's exchange once, read-only, and say what was found (the only network step of classification).

A public call first (the market list) separates "exchange unreachable" from "key refused";
then one private read-only call (Broker.check_credentials, i.e. balances) proves the key.
Nothing here decides a state: bot.accounts.states.classify_account does that, purely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.brokers.base import BalanceSnapshot, Broker
from bot.brokers.errors import AuthenticationError, BrokerError, TransientError
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings

log = logging.getLogger(__name__)


class ProbeOutcome:
    """Why a probe stopped where it did (plain strings so they serialise as they are)."""

    NOT_ATTEMPTED = "not_attempted"  # disabled, no credentials, or no client: nothing was sent
    UNREACHABLE = "unreachable"  # the exchange did not answer (connection, 5xx, time-out, rate limit)
    AUTH_REFUSED = "auth_refused"  # the exchange answered and refused the key
    ERROR = "error"  # the exchange answered with something else we could not use
    OK = "ok"


@dataclass(frozen=True)
class ProbeResult:
    """What one read-only visit to the exchange found. Never holds a secret."""

    outcome: str = ProbeOutcome.NOT_ATTEMPTED
    reachable: bool | None = None  # None: not tried
    credentials_accepted: bool | None = None  # None: not tried (or the exchange could not be reached)
    equity: float | None = None  # USD
    cash: float | None = None  # USD available for new orders
    error: str = ""  # one line, the exchange's or the client's words
    error_type: str = ""  # the bot.brokers.errors class name
    error_code: str = ""  # the exchange's own error code(s) when the adapter kept them, e.g. EAPI:Invalid key
    snapshot: BalanceSnapshot | None = None
    min_order_usd: float | None = None  # the smallest order the exchange accepts on any USD market
    min_order_symbol: str = ""  # the market that minimum belongs to
    symbol_minimums: Mapping[str, float] = field(default_factory=dict)  # symbol -> smallest order in USD
    markets: int | None = None  # tradable markets seen (None: not read)

    @property
    def attempted(self) -> bool:
        return self.outcome != ProbeOutcome.NOT_ATTEMPTED

    @classmethod
    def from_snapshot(
        cls, snapshot: BalanceSnapshot, min_order_usd: float | None = None, min_order_symbol: str = ""
    ) -> ProbeResult:
        """A successful probe from a balance already read (the trader's threads re-classify with this)."""
        return cls(
            outcome=ProbeOutcome.OK,
            reachable=True,
            credentials_accepted=True,
            equity=snapshot.equity,
            cash=snapshot.cash_available,
            snapshot=snapshot,
            min_order_usd=min_order_usd,
            min_order_symbol=min_order_symbol,
        )

    @classmethod
    def from_error(cls, error: BaseException, *, reachable: bool | None = True) -> ProbeResult:
        """Classify an exception from calling the exchange (reachable=None: from building the client)."""
        text = _one_line(error)
        kind = type(error).__name__
        raw = getattr(error, "raw", None)
        code = "; ".join(raw) if isinstance(raw, list | tuple) and all(isinstance(r, str) for r in raw) else ""
        if isinstance(error, AuthenticationError):
            return cls(ProbeOutcome.AUTH_REFUSED, reachable, False, error=text, error_type=kind, error_code=code)
        if isinstance(error, TransientError):
            return cls(ProbeOutcome.UNREACHABLE, False, None, error=text, error_type=kind, error_code=code)
        return cls(ProbeOutcome.ERROR, reachable, None, error=text, error_type=kind, error_code=code)

    @classmethod
    def not_attempted(cls, why: str = "") -> ProbeResult:
        return cls(ProbeOutcome.NOT_ATTEMPTED, error=why)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


def order_minimums(broker: Broker, cash_assets: tuple[str, ...]) -> dict[str, float]:
    """The smallest order the exchange accepts on each cash-quoted market, in USD (public calls only)."""
    markets = [m for m in broker.markets().values() if m.tradable and m.quote in cash_assets]
    if not markets:
        return {}
    tickers = broker.tickers([m.symbol for m in markets])
    minimums: dict[str, float] = {}
    for market in markets:
        ticker = tickers.get(market.symbol)
        if ticker is not None and ticker.last > 0:
            minimums[market.symbol] = max(float(market.min_notional), float(market.min_base_qty) * ticker.last)
    return minimums


def smallest_order(minimums: Mapping[str, float]) -> tuple[float | None, str]:
    """The cheapest of those minimums, and its market."""
    if not minimums:
        return None, ""
    symbol = min(minimums, key=lambda s: (minimums[s], s))
    return minimums[symbol], symbol


def _scrubbed(result: ProbeResult, account: AccountConfig) -> ProbeResult:
    """Belt and braces: an SDK that echoes a request must not carry the secret into a report."""
    secret = account.credentials.api_secret if account.credentials else ""
    if secret and secret in result.error:
        return replace(result, error=result.error.replace(secret, "[secret]"))
    return result


def probe_account(
    account: AccountConfig, broker: Broker | None, cash_assets: tuple[str, ...] = ("USD", "USDT", "USDC")
) -> ProbeResult:
    """Reach the exchange (public), prove the key (private, read-only) and read the balance.

    Nothing is sent for a disabled account, an account without usable credentials, or when no
    client could be built (broker None). Exceptions we can name become the result; anything
    else propagates to the caller's health record with its traceback.
    """
    return _scrubbed(_probe(account, broker, cash_assets), account)


def _probe(account: AccountConfig, broker: Broker | None, cash_assets: tuple[str, ...]) -> ProbeResult:
    if not account.enabled:
        return ProbeResult.not_attempted("the account is disabled")
    if account.credentials is None:
        return ProbeResult.not_attempted(account.credential_problem or "no credentials")
    if broker is None:
        return ProbeResult.not_attempted("no exchange client could be built")
    try:
        markets = broker.markets()
    except BrokerError as error:
        log.info("%s: exchange not reachable: %s", account.label, _one_line(error))
        return ProbeResult.from_error(error, reachable=not isinstance(error, TransientError))
    minimums: dict[str, float] = {}
    try:
        minimums = order_minimums(broker, cash_assets)
    except BrokerError as error:  # minimums are a nice-to-have; the key check below still runs
        log.info("%s: could not read prices for the order minimum: %s", account.label, _one_line(error))
    try:
        snapshot = broker.check_credentials()
    except BrokerError as error:
        log.info("%s: private call failed: %s", account.label, _one_line(error))
        return ProbeResult.from_error(error, reachable=True)
    minimum, minimum_symbol = smallest_order(minimums)
    result = ProbeResult.from_snapshot(snapshot, minimum, minimum_symbol)
    return replace(result, markets=sum(1 for m in markets.values() if m.tradable), symbol_minimums=minimums)


BrokerFactory = Callable[[AccountConfig, Settings, Clock, Path], Broker]


def connect_and_probe(
    account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path, factory: BrokerFactory
) -> tuple[Broker | None, ProbeResult]:
    """Build the account's own client and probe it; a client that cannot be built is a result, not a crash."""
    if not account.enabled or account.credentials is None:
        return None, probe_account(account, None)
    try:
        broker = factory(account, settings, clock, state_dir)
    except (BrokerError, ValueError) as error:
        log.error("%s: cannot build its %s client: %s", account.label, account.broker, _one_line(error))
        return None, _scrubbed(ProbeResult.from_error(error, reachable=None), account)
    return broker, probe_with_retries(account, broker, settings, clock)


def probe_with_retries(account: AccountConfig, broker: Broker, settings: Settings, clock: Clock) -> ProbeResult:
    """Probe, and probe again a few times (PROBE_ATTEMPTS) while the exchange does not answer.

    One dropped answer must not make an account UNREACHABLE until the next re-check: a follower
    called unreachable at start-up would miss the master's fills meanwhile (issue 10, failure 7).
    A refused key or any other answer is final at once.
    """
    trader = settings.trader
    result = probe_account(account, broker, settings.general.cash_assets)
    for attempt in range(2, trader.probe_attempts + 1):
        if result.outcome != ProbeOutcome.UNREACHABLE:
            break
        log.info("%s: exchange did not answer (%s); probe %d of %d in %.0f s", account.label, result.error,
                 attempt, trader.probe_attempts, trader.probe_retry_seconds)
        if broker.stop_token.wait(trader.probe_retry_seconds, clock):
            break  # the bot is stopping: no more probes
        result = probe_account(account, broker, settings.general.cash_assets)
    return result
