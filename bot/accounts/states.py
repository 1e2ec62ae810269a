"""The ONE account-state classification: the trader at start-up, `bot.py status` and the verify scripts all use it.

classify_account is pure: given an account, what probing its exchange found, the registry,
the settings and its master's status, it returns one state with a reason in plain words and
the exact fix. The old bot's users spent weeks asking "why is Kraken not trading"; every
branch below answers that for one cause.

Order of the questions (the first that fails decides): enabled; credentials present and
well-formed; exchange reachable; key accepted; funded (MINIMUM_FUNDED_BALANCE); able to
place the exchange's smallest order; copy mode (observe-only, master missing or offline);
entry blocking. Otherwise TRADING (runs APEX) or FOLLOWING (copies its master).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.accounts.advice import (
    KEY_PAGES,
    KEY_PERMISSIONS,
    URL_VARIABLES,
    credential_prefix,
    exchange_name,
    exchange_url,
    pct,
    preferred_prefix,
    round_up_cents,
    usd,
)
from bot.accounts.probe import BrokerFactory, ProbeOutcome, ProbeResult, connect_and_probe, probe_account
from bot.config.accounts import AccountConfig, AccountRegistry
from bot.config.settings import Settings

__all__ = [
    "ACTIVE_STATES",
    "RECHECK_STATES",
    "THREAD_STATES",
    "AccountState",
    "AccountStatus",
    "BrokerFactory",
    "ProbeOutcome",
    "ProbeResult",
    "capacity_fraction",
    "classify_account",
    "connect_and_probe",
    "credentials_problem",
    "entry_blocking_problem",
    "follower_problem",
    "independent_reason",
    "is_follower",
    "master_heartbeat_problem",
    "master_label",
    "money_problem",
    "probe_account",
    "probe_problem",
]


class AccountState(StrEnum):
    TRADING = "TRADING"  # runs APEX on its own money
    FOLLOWING = "FOLLOWING"  # copies its brokerage's master
    STANDING_DOWN = "STANDING_DOWN"  # a follower while COPY_OBSERVE_ONLY=true: nothing is ever placed for it
    UNFUNDED = "UNFUNDED"  # equity under MINIMUM_FUNDED_BALANCE
    BELOW_MINIMUM = "BELOW_MINIMUM"  # funded, but its largest allowed order is under the exchange's smallest
    NO_CREDENTIALS = "NO_CREDENTIALS"  # neither key nor secret set
    BAD_CREDENTIALS = "BAD_CREDENTIALS"  # half a pair, a malformed secret, or conflicting aliases (found offline)
    AUTH_FAILED = "AUTH_FAILED"  # the exchange refused the key
    UNREACHABLE = "UNREACHABLE"  # the exchange did not answer
    DISABLED = "DISABLED"  # "enabled": false in its user file
    ENTRY_BLOCKED = "ENTRY_BLOCKED"  # ENTRY_BLOCKING=true: exits only
    MASTER_OFFLINE = "MASTER_OFFLINE"  # a follower whose master is missing, not trading or silent


#: states whose account places orders when a signal comes
ACTIVE_STATES = frozenset({AccountState.TRADING, AccountState.FOLLOWING})
#: states whose account gets a worker thread: positions it holds keep their exits / guard
THREAD_STATES = frozenset({
    AccountState.TRADING,
    AccountState.FOLLOWING,
    AccountState.ENTRY_BLOCKED,
    AccountState.MASTER_OFFLINE,
    AccountState.STANDING_DOWN,
    AccountState.BELOW_MINIMUM,
})
#: states that can change without a restart (money arrives, the exchange comes back): re-check them
RECHECK_STATES = frozenset({AccountState.UNFUNDED, AccountState.UNREACHABLE, AccountState.BELOW_MINIMUM})
#: master states whose fills reach its followers (entry-blocked masters still exit, and exits are copied)
_MASTER_SERVING = frozenset({AccountState.TRADING, AccountState.ENTRY_BLOCKED})


@dataclass(frozen=True)
class AccountStatus:
    state: AccountState
    reason: str
    fix: str = ""

    @property
    def will_trade(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def gets_thread(self) -> bool:
        return self.state in THREAD_STATES


def is_follower(account: AccountConfig, settings: Settings) -> bool:
    """A user that stands down from the strategy and copies its brokerage's master."""
    return (
        settings.general.copies_masters
        and not account.is_master
        and account.copy_from_master
    )


def master_label(registry: AccountRegistry, broker: str) -> str:
    """The label of a brokerage's master, named the same way even when none is configured."""
    master = registry.master(broker)
    return master.label if master else f"{broker}:master"


def independent_reason(account: AccountConfig, settings: Settings) -> str:
    """Why an account runs APEX itself rather than copying: the master, INDEPENDENT mode or its user file."""
    if account.is_master:
        return "the master"
    if not settings.general.copies_masters:
        return "COPY_TRADING_MODE=INDEPENDENT"
    return '"copy_from_master": false'


def capacity_fraction(account: AccountConfig, settings: Settings) -> tuple[float, str]:
    """The largest share of equity one order may take, and the variable that sets it."""
    if is_follower(account, settings):
        return settings.general.max_user_risk, "MAX_USER_RISK"
    return settings.strategy.position_max_fraction, "POSITION_MAX_FRACTION"


def master_heartbeat_problem(last_seen: float | None, now: float, settings: Settings) -> str | None:
    """Why a master counts as offline from the state store's heartbeat, or None when it is fresh."""
    limit = settings.copy_trading.master_offline_seconds
    if last_seen is None:
        return "its master has never reported a heartbeat (the bot has not run the master's thread)"
    age = now - last_seen
    if age > limit:
        return f"its master's last heartbeat was {age:,.0f} s ago, over MASTER_OFFLINE_SECONDS={limit:g}"
    return None


def credentials_problem(account: AccountConfig) -> AccountStatus | None:
    """Missing or malformed credentials (found without network), or None when a usable pair is set."""
    if account.credentials is not None:
        return None
    name = exchange_name(account.broker)
    prefix = preferred_prefix(account)
    problem = account.credential_problem
    create = f"create the key in {KEY_PAGES.get(account.broker, name)} with {KEY_PERMISSIONS.get(account.broker, '')}"
    if account.credential_state in ("missing", "ok") or not problem:
        return AccountStatus(
            AccountState.NO_CREDENTIALS,
            f"no {name} API key is set for {account.label} ({prefix}_API_KEY and {prefix}_API_SECRET are not set)",
            f"set {prefix}_API_KEY and {prefix}_API_SECRET; {create}",
        )
    if account.credential_state == "incomplete":
        fix = f"set both {prefix}_API_KEY and {prefix}_API_SECRET from the same {name} API key"
    elif account.credential_state == "conflict":
        fix = f"keep only {prefix}_API_KEY and {prefix}_API_SECRET set; remove the other variables named in the reason"
    elif account.broker == "kraken":
        fix = (
            f"set {prefix}_API_SECRET to the private key exactly as Kraken showed it when the key was created "
            "(base64, no quotes or spaces); if it is lost, create a new key"
        )
    elif account.broker == "coinbase":
        fix = (
            f"set {prefix}_API_SECRET to the whole EC private key from the downloaded key file, "
            "BEGIN/END lines included (newlines may be written as \\n); the key must use ECDSA"
        )
    elif account.broker == "alpaca" and "PAPER" in problem:
        fix = f"set {prefix}_PAPER to true (paper account) or false (live account)"
    else:
        fix = f"set {prefix}_API_KEY and {prefix}_API_SECRET to a working {name} key pair"
    return AccountStatus(AccountState.BAD_CREDENTIALS, problem, fix)


def probe_problem(account: AccountConfig, probe: ProbeResult, settings: Settings) -> AccountStatus | None:
    """The state when talking to the exchange failed (or never happened), or None when it worked."""
    name = exchange_name(account.broker)
    url = exchange_url(account.broker, settings)
    url_var = URL_VARIABLES.get(account.broker, "")
    if probe.outcome == ProbeOutcome.OK:
        return None
    if probe.outcome == ProbeOutcome.AUTH_REFUSED:
        prefix = credential_prefix(account)
        key = account.credentials.fingerprint if account.credentials else "(no key)"
        text = probe.error.lower()
        if "permission" in text or "forbidden" in text or "scope" in text:
            permissions = KEY_PERMISSIONS.get(account.broker, "trading permissions")
            fix = f"grant the key {permissions} in {KEY_PAGES.get(account.broker, name)}"
        else:
            fix = (
                f"check that {prefix}_API_KEY and {prefix}_API_SECRET come from the same, still active {name} key "
                f"(the key ending {key}); if in doubt create a new key with {KEY_PERMISSIONS.get(account.broker, '')}"
            )
            if account.broker == "alpaca":
                fix += f", and that {prefix}_PAPER matches the key's kind (paper or live)"
        detail = f" ({probe.error_code})" if probe.error_code else f": {probe.error}"
        return AccountStatus(AccountState.AUTH_FAILED, f"{name} refused the API key {key}{detail}", fix)
    if probe.outcome == ProbeOutcome.UNREACHABLE:
        return AccountStatus(
            AccountState.UNREACHABLE,
            f"{name} at {url} did not answer: {probe.error}",
            f"check the network and {name}'s status page; if {url_var} is set, check it names the exchange "
            "(it is re-checked automatically)",
        )
    if probe.outcome == ProbeOutcome.ERROR:
        return AccountStatus(
            AccountState.UNREACHABLE,
            f"talking to {name} at {url} failed: {probe.error}",
            f"check {url_var} and the log for this account's traceback",
        )
    return AccountStatus(
        AccountState.UNREACHABLE,
        f"{name} was not contacted: {probe.error or 'no exchange client'}",
        "run the check again with network access to the exchange",
    )


def money_problem(account: AccountConfig, probe: ProbeResult, settings: Settings) -> AccountStatus | None:
    """UNFUNDED or BELOW_MINIMUM from a successful probe's balance and the exchange's order minimums."""
    name = exchange_name(account.broker)
    equity = probe.equity or 0.0
    floor = settings.general.minimum_funded_balance
    fraction, fraction_var = capacity_fraction(account, settings)
    needed = floor
    if probe.min_order_usd is not None and fraction > 0:
        needed = max(needed, probe.min_order_usd / fraction)
    if equity < floor:
        deposit = round_up_cents(needed - equity)
        return AccountStatus(
            AccountState.UNFUNDED,
            f"equity {usd(equity)} is under MINIMUM_FUNDED_BALANCE {usd(floor)}",
            f"deposit at least {usd(deposit)} into this {name} account (to reach {usd(round_up_cents(needed))}"
            + (
                f", enough for {name}'s smallest order of {usd(probe.min_order_usd)} on {probe.min_order_symbol})"
                if probe.min_order_usd is not None
                else ")"
            ),
        )
    if probe.min_order_usd is not None and equity * fraction < probe.min_order_usd:
        deposit = round_up_cents(needed - equity)
        return AccountStatus(
            AccountState.BELOW_MINIMUM,
            f"its largest order, {fraction_var} {pct(fraction)} of equity {usd(equity)} = {usd(equity * fraction)}, "
            f"is under {name}'s smallest order {usd(probe.min_order_usd)} ({probe.min_order_symbol}): "
            "every order would be skipped",
            f"deposit at least {usd(deposit)} (to reach {usd(round_up_cents(needed))}), or raise {fraction_var}",
        )
    return None


def entry_blocking_problem(settings: Settings) -> AccountStatus | None:
    if not settings.general.entry_blocking:
        return None
    return AccountStatus(
        AccountState.ENTRY_BLOCKED,
        "ENTRY_BLOCKING=true: no new entries anywhere; exits of open positions continue",
        "set ENTRY_BLOCKING=false when new entries should resume",
    )


def follower_problem(
    account: AccountConfig,
    registry: AccountRegistry,
    settings: Settings,
    master_status: AccountStatus | None,
    master_offline_reason: str | None,
) -> AccountStatus | None:
    master = registry.master(account.broker)
    label = master_label(registry, account.broker)
    if account.demo:  # a paper demo follower has no user file to edit
        independent = "or set COPY_TRADING_MODE=INDEPENDENT so the demo followers run the strategy themselves"
    else:
        independent = (
            f'or set "copy_from_master": false in {account.source} (or COPY_TRADING_MODE=INDEPENDENT) '
            "so it runs the strategy itself"
        )
    if settings.general.copy_observe_only:
        return AccountStatus(
            AccountState.STANDING_DOWN,
            f"COPY_OBSERVE_ONLY=true: the copy engine only logs {label}'s trades, "
            "so this follower never trades",
            f"set COPY_OBSERVE_ONLY=false, {independent}",
        )
    if master is None:
        prefix = f"{account.broker.upper()}_MASTER"
        return AccountStatus(
            AccountState.MASTER_OFFLINE,
            f"it follows the {exchange_name(account.broker)} master, but no {account.broker} master is configured",
            f"set {prefix}_API_KEY and {prefix}_API_SECRET, {independent}",
        )
    if master_status is None:
        return AccountStatus(
            AccountState.MASTER_OFFLINE,
            f"it follows {label}, whose state is not known yet",
            f"classify {label} first (masters before users), {independent}",
        )
    if master_status.state not in _MASTER_SERVING:
        fix = f"fix {label}: {master_status.fix}" if master_status.fix else f"start {label}"
        return AccountStatus(
            AccountState.MASTER_OFFLINE,
            f"it follows {label}, which is {master_status.state}: {master_status.reason}",
            f"{fix}; {independent}",
        )
    if master_offline_reason:
        return AccountStatus(
            AccountState.MASTER_OFFLINE,
            f"it follows {label}, but {master_offline_reason}",
            f"check {label} in `python bot.py status` (its health and last error) and restart the bot "
            "if its thread stopped",
        )
    return None


def classify_account(
    account: AccountConfig,
    probe: ProbeResult,
    registry: AccountRegistry,
    settings: Settings,
    master_status: AccountStatus | None = None,
    *,
    master_offline_reason: str | None = None,
) -> AccountStatus:
    """One state with a reason and a fix. Pure: no network, no clock, no store.

    master_status is the status of this account's brokerage master (classify masters first);
    it is ignored for masters and for users that do not follow. master_offline_reason comes
    from the state store's heartbeat (master_heartbeat_problem) when a running bot is checked.
    """
    if not account.enabled:
        where = f" in {account.source}" if not account.is_master else ""
        return AccountStatus(
            AccountState.DISABLED,
            f"{account.label} is disabled{where}",
            f'set "enabled": true in {account.source}' if not account.is_master else "enable the master",
        )
    missing = credentials_problem(account)
    if missing is not None:
        return missing
    failed = probe_problem(account, probe, settings)
    if failed is not None:
        return failed
    money = money_problem(account, probe, settings)
    if money is not None:
        return money
    follower = is_follower(account, settings)
    if follower:
        blocked = follower_problem(account, registry, settings, master_status, master_offline_reason)
        if blocked is not None:
            return blocked
    blocking = entry_blocking_problem(settings)
    if blocking is not None:
        return blocking
    if follower:
        label = master_label(registry, account.broker)
        return AccountStatus(
            AccountState.FOLLOWING,
            f"copies {label}'s trades sized by equity ratio x risk multiplier {account.risk_multiplier:g}, "
            f"capped at MAX_USER_RISK {pct(settings.general.max_user_risk)} of its equity",
        )
    return AccountStatus(
        AccountState.TRADING, f"runs the APEX strategy on its own money ({independent_reason(account, settings)})"
    )
