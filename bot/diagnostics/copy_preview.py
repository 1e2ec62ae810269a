"""What each follower would place for a sample master trade, sized by the copy engine's own pure functions.

No second sizing rule lives here: entries go through bot.copy.sizing.follower_entry_notional and
exits through follower_exit_quantity, exactly as the copy engine calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.accounts.advice import exchange_name, pct, usd
from bot.accounts.states import master_label
from bot.config.accounts import AccountRegistry
from bot.config.settings import Settings
from bot.copy.sizing import follower_entry_notional, follower_exit_quantity
from bot.diagnostics.report import DiagnosticsReport


@dataclass(frozen=True)
class FollowerPreview:
    label: str
    state: str
    equity: float | None
    cash: float | None
    risk_multiplier: float
    notional: float  # USD the follower would buy for the sample entry (0 when nothing is placed)
    outcome: str  # "copy" | "skip" | "not following"
    why: str  # the sizing line, or why nothing is placed
    exit_fraction_example: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "state": self.state,
            "equity": None if self.equity is None else round(self.equity, 2),
            "cash": None if self.cash is None else round(self.cash, 2),
            "risk_multiplier": self.risk_multiplier,
            "notional": round(self.notional, 2),
            "outcome": self.outcome,
            "why": self.why,
            "exit": self.exit_fraction_example,
        }


@dataclass(frozen=True)
class BrokeragePreview:
    broker: str
    master_label: str
    master_state: str
    master_equity: float | None
    symbol: str
    master_notional: float | None
    exchange_minimum: float | None
    note: str = ""
    followers: list[FollowerPreview] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "master": self.master_label,
            "master_state": self.master_state,
            "master_equity": None if self.master_equity is None else round(self.master_equity, 2),
            "sample_symbol": self.symbol,
            "sample_master_notional": None if self.master_notional is None else round(self.master_notional, 2),
            "exchange_minimum": None if self.exchange_minimum is None else round(self.exchange_minimum, 2),
            "note": self.note,
            "followers": [f.to_dict() for f in self.followers],
        }


def _exit_example(fraction: float) -> str:
    # Per unit of the follower's own position: the engine's function, so the text cannot drift from it.
    sold = follower_exit_quantity(fraction, 1.0)
    return f"a master sale of {pct(fraction)} of its position sells {pct(sold)} of this follower's own position"


def preview_copies(
    report: DiagnosticsReport,
    registry: AccountRegistry,
    settings: Settings,
    *,
    symbol: str = "BTC-USD",
    master_notional: float | None = None,
    exit_fraction: float = 0.5,
) -> list[BrokeragePreview]:
    """One preview per brokerage in the report (pure: reads what diagnose() found)."""
    previews: list[BrokeragePreview] = []
    for broker in dict.fromkeys(a.broker for a in report.accounts):
        label = master_label(registry, broker)
        master_report = report.account(broker, "master")
        master_probe = report.probes.get(label)
        master_equity = master_probe.equity if master_probe else None
        notional = master_notional
        if notional is None and master_equity:
            notional = master_equity * settings.strategy.position_max_fraction
        minimum = master_probe.symbol_minimums.get(symbol) if master_probe else None
        note = ""
        if not settings.general.copies_masters:
            note = "COPY_TRADING_MODE=INDEPENDENT: nothing is copied; every funded user runs APEX itself"
        elif settings.general.copy_observe_only:
            note = "COPY_OBSERVE_ONLY=true: these sizes are only logged; nothing is placed"
        elif notional is None:
            note = f"{label}'s equity is unknown: pass --notional to size a sample trade"
        elif master_probe and master_probe.symbol_minimums and minimum is None:
            note = f"{symbol} is not listed on {exchange_name(broker)}"
        preview = BrokeragePreview(
            broker, label, str(master_report.status.state) if master_report else "NOT CHECKED",
            master_equity, symbol, notional, minimum, note,
        )
        for account in report.accounts:
            if account.broker != broker or account.role == "master":
                continue
            config = registry.get(broker, account.account_id)
            multiplier = config.risk_multiplier if config else 1.0
            preview.followers.append(_follower(account, multiplier, notional, master_equity, minimum, settings,
                                               exit_fraction))
        previews.append(preview)
    return previews


def _follower(
    account: Any,
    multiplier: float,
    notional: float | None,
    master_equity: float | None,
    minimum: float | None,
    settings: Settings,
    exit_fraction: float,
) -> FollowerPreview:
    base = {"label": account.label, "state": str(account.status.state), "equity": account.equity,
            "cash": account.cash, "risk_multiplier": multiplier, "exit_fraction_example": _exit_example(exit_fraction)}
    if not account.follower:
        return FollowerPreview(**base, notional=0.0, outcome="not following",
                               why=f"{account.status.state}: {account.status.reason}")
    if not account.will_trade:
        return FollowerPreview(**base, notional=0.0, outcome="skip",
                               why=f"{account.status.state}: {account.status.reason}")
    if notional is None or not master_equity:
        return FollowerPreview(**base, notional=0.0, outcome="skip", why="the master's equity is unknown")
    size = follower_entry_notional(
        notional, master_equity, account.equity or 0.0, account.cash or 0.0, multiplier,
        settings.general.max_user_risk,
    )
    if minimum is not None and size.notional < minimum:
        return FollowerPreview(**base, notional=0.0, outcome="skip",
                               why=f"{size.reason}: {usd(size.notional)} is under the exchange minimum {usd(minimum)}")
    return FollowerPreview(**base, notional=size.notional, outcome="copy", why=size.reason)
