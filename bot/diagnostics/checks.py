"""The per-account check list: each question of the classification as pass / warn / fail / skip, with a fix.

The verdicts come from the same functions classify_account uses (bot.accounts.states), so a
check can never disagree with the state the trader shows. Checks that need the exchange are
skipped once an earlier one failed; checks that only read the configuration (copy mode, entry
blocking, position cap) always run, so one run shows every problem of an account at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.accounts.advice import exchange_name, exchange_url, pct, usd
from bot.accounts.probe import ProbeOutcome, ProbeResult
from bot.accounts.states import (
    AccountState,
    AccountStatus,
    capacity_fraction,
    credentials_problem,
    entry_blocking_problem,
    follower_problem,
    independent_reason,
    is_follower,
    master_label,
    money_problem,
    probe_problem,
)
from bot.config.accounts import AccountConfig, AccountRegistry
from bot.config.settings import Settings


class Result(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    result: Result
    reason: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "result": str(self.result), "reason": self.reason, "fix": self.fix}


@dataclass(frozen=True)
class AccountReport:
    """Everything diagnostics found for one account. Holds no secret (no AccountConfig, no Credentials)."""

    broker: str
    account_id: str
    role: str
    display_name: str
    source: str
    credentials: str  # "set" | "not set" | "incomplete" | "malformed" | "conflict"
    key_fingerprint: str  # last 4 of the key, never of the secret; "" when no key
    follower: bool
    status: AccountStatus
    checks: tuple[Check, ...]
    equity: float | None = None
    cash: float | None = None
    open_positions: int | None = None
    copy_problem: AccountStatus | None = None  # set for a follower whose master will not trade for it
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.broker}:{self.account_id}"

    @property
    def enabled(self) -> bool:
        return self.status.state is not AccountState.DISABLED

    @property
    def will_trade(self) -> bool:
        return self.status.will_trade and not any(c.result is Result.FAIL for c in self.checks)

    @property
    def blocking(self) -> list[Check]:
        return [c for c in self.checks if c.result is Result.FAIL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "account_id": self.account_id,
            "label": self.label,
            "role": self.role,
            "display_name": self.display_name,
            "source": self.source,
            "credentials": self.credentials,
            "key_fingerprint": self.key_fingerprint,
            "follower": self.follower,
            "state": str(self.status.state),
            "reason": self.status.reason,
            "fix": self.status.fix,
            "will_trade": self.will_trade,
            "equity": None if self.equity is None else round(self.equity, 2),
            "cash": None if self.cash is None else round(self.cash, 2),
            "open_positions": self.open_positions,
            "checks": [c.to_dict() for c in self.checks],
            **dict(self.extra),
        }


def _failed(name: str, status: AccountStatus) -> Check:
    return Check(name, Result.FAIL, status.reason, status.fix)


def _skip(name: str, why: str) -> Check:
    return Check(name, Result.SKIP, f"not checked: {why}")


def credentials_word(account: AccountConfig) -> str:
    if account.credentials is not None:
        return "set"
    return {"incomplete": "incomplete", "malformed": "malformed", "conflict": "conflict"}.get(
        account.credential_state, "not set"
    )


def _enabled_check(account: AccountConfig, status: AccountStatus) -> Check:
    if status.state is AccountState.DISABLED:
        return Check("enabled", Result.WARN, status.reason + " (switched off on purpose: it never trades)", status.fix)
    return Check("enabled", Result.PASS, "enabled")


def _credentials_check(account: AccountConfig) -> Check:
    problem = credentials_problem(account)
    if problem is not None:
        return _failed("credentials", problem)
    assert account.credentials is not None
    return Check(
        "credentials",
        Result.PASS,
        f"set from {account.credentials.source}_API_KEY / _API_SECRET (key {account.credentials.fingerprint}; "
        "secret format checked offline)",
    )


def _network_checks(account: AccountConfig, probe: ProbeResult, settings: Settings) -> list[Check]:
    name = exchange_name(account.broker)
    problem = probe_problem(account, probe, settings)
    reach, accept = "exchange reachable", "credentials accepted"
    if problem is None:
        markets = f" ({probe.markets} markets)" if probe.markets is not None else ""
        return [
            Check(reach, Result.PASS, f"{name} at {exchange_url(account.broker, settings)} answered{markets}"),
            Check(accept, Result.PASS, "a private read-only call (balances) succeeded"),
        ]
    if problem.state is AccountState.AUTH_FAILED:
        reached = (Check(reach, Result.PASS, f"{name} at {exchange_url(account.broker, settings)} answered")
                   if probe.reachable else _skip(reach, "the client refused the key before any call"))
        return [reached, _failed(accept, problem)]
    return [_failed(reach, problem), _skip(accept, "the exchange did not answer")]


def _money_checks(account: AccountConfig, probe: ProbeResult, settings: Settings) -> list[Check]:
    name = exchange_name(account.broker)
    equity, cash = probe.equity or 0.0, probe.cash or 0.0
    problem = money_problem(account, probe, settings)
    floor = settings.general.minimum_funded_balance
    if problem is not None and problem.state is AccountState.UNFUNDED:
        return [_failed("balance", problem), _skip("order minimum", "the account is unfunded")]
    balance = Check(
        "balance",
        Result.PASS,
        f"equity {usd(equity)}, free cash {usd(cash)} (funded: MINIMUM_FUNDED_BALANCE is {usd(floor)})",
    )
    if problem is not None:
        return [balance, _failed("order minimum", problem)]
    if probe.min_order_usd is None:
        return [balance, Check(
            "order minimum", Result.WARN,
            f"{name}'s order minimums could not be read, so whether its orders clear them is unknown",
            "run the check again; orders under the minimum are skipped with the reason in the log",
        )]
    fraction, variable = capacity_fraction(account, settings)
    largest = equity * fraction
    if cash < probe.min_order_usd:
        return [balance, Check(
            "order minimum", Result.WARN,
            f"free cash {usd(cash)} is under {name}'s smallest order {usd(probe.min_order_usd)}: "
            "no new entry until a position is sold",
            "wait for open positions to close, or deposit cash",
        )]
    return [balance, Check(
        "order minimum", Result.PASS,
        f"its largest order, {variable} {pct(fraction)} of equity = {usd(largest)}, clears {name}'s smallest "
        f"order {usd(probe.min_order_usd)} ({probe.min_order_symbol})",
    )]


def _copy_check(
    account: AccountConfig,
    registry: AccountRegistry,
    settings: Settings,
    master_status: AccountStatus | None,
    master_offline_reason: str | None,
) -> tuple[Check, AccountStatus | None]:
    general = settings.general
    if account.is_master:
        followers = [u.label for u in registry.users(account.broker) if u.enabled and is_follower(u, settings)]
        if not general.copies_masters:
            return Check("copy mode", Result.PASS, "COPY_TRADING_MODE=INDEPENDENT: runs APEX; users trade on "
                         "their own"), None
        if general.copy_observe_only and followers:
            return Check(
                "copy mode", Result.WARN,
                f"COPY_OBSERVE_ONLY=true: its fills are only logged; {len(followers)} follower(s) will not trade",
                "set COPY_OBSERVE_ONLY=false",
            ), None
        who = ", ".join(followers) if followers else "no followers"
        return Check("copy mode", Result.PASS, f"master: runs APEX; its fills are copied to {who}"), None
    if not is_follower(account, settings):
        why = independent_reason(account, settings)
        return Check("copy mode", Result.PASS, f"independent user: runs APEX on its own money ({why})"), None
    problem = follower_problem(account, registry, settings, master_status, master_offline_reason)
    if problem is not None:
        return _failed("copy mode", problem), problem
    label = master_label(registry, account.broker)
    return Check(
        "copy mode", Result.PASS,
        f"follows {label}: copies each of its fills x equity ratio x risk multiplier {account.risk_multiplier:g}, "
        f"capped at MAX_USER_RISK {pct(general.max_user_risk)} of equity; runs no strategy itself",
    ), None


def _entry_check(settings: Settings) -> Check:
    problem = entry_blocking_problem(settings)
    if problem is not None:
        return _failed("entry blocking", problem)
    return Check("entry blocking", Result.PASS, "ENTRY_BLOCKING is off: new entries allowed")


def _position_check(settings: Settings, open_positions: int | None) -> Check:
    cap = settings.general.max_concurrent_positions
    if open_positions is None:
        return Check("position cap", Result.PASS, f"MAX_CONCURRENT_POSITIONS={cap} (open positions unknown)")
    if open_positions >= cap:
        return Check(
            "position cap", Result.WARN,
            f"{open_positions} open positions reach MAX_CONCURRENT_POSITIONS={cap}: no new entry until one closes "
            "(exits continue)",
            "wait for an exit, or raise MAX_CONCURRENT_POSITIONS",
        )
    return Check("position cap", Result.PASS, f"{open_positions} of MAX_CONCURRENT_POSITIONS={cap} positions open")


def count_holdings(probe: ProbeResult, cash_assets: tuple[str, ...]) -> int | None:
    """Positions seen on the exchange when no state store is at hand: non-cash assets worth an order."""
    snapshot = probe.snapshot
    if snapshot is None:
        return None
    dust = probe.min_order_usd or 0.0
    count = 0
    for asset, balance in snapshot.assets.items():
        if asset in cash_assets:
            continue
        value = float(balance.total) * snapshot.prices_usd.get(asset, 0.0)
        if value > 0 and value >= dust:
            count += 1
    return count


def account_checks(
    account: AccountConfig,
    probe: ProbeResult,
    status: AccountStatus,
    registry: AccountRegistry,
    settings: Settings,
    *,
    master_status: AccountStatus | None = None,
    master_offline_reason: str | None = None,
    open_positions: int | None = None,
) -> AccountReport:
    """The ordered check list for one account, and its report (pure)."""
    checks: list[Check] = [_enabled_check(account, status)]
    if status.state is AccountState.DISABLED:
        network_ok = False
        why = "the account is disabled"
        checks.append(_skip("credentials", why))
    else:
        checks.append(_credentials_check(account))
        network_ok = account.credentials is not None
        why = "credentials are missing or malformed"
    if network_ok:
        checks.extend(_network_checks(account, probe, settings))
        if probe.outcome == ProbeOutcome.OK:
            checks.extend(_money_checks(account, probe, settings))
        else:
            checks.extend([_skip("balance", "the balance could not be read"),
                           _skip("order minimum", "the balance could not be read")])
    else:
        checks.extend(_skip(name, why) for name in
                      ("exchange reachable", "credentials accepted", "balance", "order minimum"))
    copy, copy_problem = _copy_check(account, registry, settings, master_status, master_offline_reason)
    checks.append(copy)
    checks.append(_entry_check(settings))
    if open_positions is None:
        open_positions = count_holdings(probe, settings.general.cash_assets)
    checks.append(_position_check(settings, open_positions))
    return AccountReport(
        broker=account.broker,
        account_id=account.account_id,
        role=str(account.role),
        display_name=account.display_name,
        source=account.source,
        credentials=credentials_word(account),
        key_fingerprint=account.credentials.fingerprint if account.credentials else "",
        follower=is_follower(account, settings),
        status=status,
        checks=tuple(checks),
        equity=probe.equity,
        cash=probe.cash,
        open_positions=open_positions,
        copy_problem=copy_problem,
    )
