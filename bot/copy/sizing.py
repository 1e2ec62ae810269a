"""Follower order sizes for copy trading (docs/rules.md §5), as pure functions.

Two units only, never mixed: entry sizes are QUOTE notionals (USD) computed from quote
notionals and equities; exit sizes are BASE quantities computed from a fraction and the
follower's own base position. The previous bot fed a base quantity into a USD cap and
logged "$8.46 order capped from $4,757.31"; keeping the two functions apart, each with a
single unit in and out, makes that mix-up impossible to write.

The backtester uses these same functions, so a backtest of copy trading sizes exactly
as the live copy engine does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: a master sale of at least this fraction of its position is a full close (float noise in the ratio)
FULL_CLOSE_FRACTION = 1.0 - 1e-9


class EntryCap(StrEnum):
    """Which rule decided a follower's entry notional."""

    NONE = "none"  # the equity-ratio size stood: no cap bound
    MAX_USER_RISK = "max_user_risk"  # capped at MAX_USER_RISK x follower equity
    FREE_CASH = "free_cash"  # capped at the follower's free cash
    NO_FOLLOWER_EQUITY = "no_follower_equity"  # follower has no equity: nothing to copy with
    NO_MASTER_EQUITY = "no_master_equity"  # master equity unknown/zero: the ratio is undefined


@dataclass(frozen=True)
class EntrySize:
    """A follower's entry notional in quote currency (USD), and why it is that size."""

    notional: float  # quote currency, after caps
    uncapped_notional: float  # quote currency, equity ratio x risk multiplier, before caps
    cap: EntryCap
    reason: str  # one human line, e.g. "capped at MAX_USER_RISK 10% of equity 84.60 = 8.46"


def _check(name: str, value: float) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise ValueError(f"{name} must be a finite number of 0 or more, got {value!r}")
    return number


def follower_entry_notional(
    master_notional: float,
    master_equity: float,
    follower_equity: float,
    follower_free_cash: float,
    risk_multiplier: float,
    max_user_risk: float,
) -> EntrySize:
    """Follower notional = master notional x follower equity / master equity x risk multiplier,
    capped at max_user_risk x follower equity and at free cash. Every argument is in USD except
    the two dimensionless factors; the result is in USD.
    """
    master_notional = _check("master_notional", master_notional)
    master_equity = _check("master_equity", master_equity)
    follower_equity = _check("follower_equity", follower_equity)
    follower_free_cash = _check("follower_free_cash", follower_free_cash)
    risk_multiplier = _check("risk_multiplier", risk_multiplier)
    max_user_risk = _check("max_user_risk", max_user_risk)

    if master_equity <= 0:
        return EntrySize(0.0, 0.0, EntryCap.NO_MASTER_EQUITY, "master equity before the trade is unknown or zero")
    if follower_equity <= 0:
        return EntrySize(0.0, 0.0, EntryCap.NO_FOLLOWER_EQUITY, "follower equity is zero")

    master_fraction = master_notional / master_equity  # the share of its equity the master put in
    if not math.isfinite(master_fraction):
        reason = f"master equity {master_equity!r} is too small to size by"
        return EntrySize(0.0, 0.0, EntryCap.NO_MASTER_EQUITY, reason)
    uncapped = master_fraction * follower_equity * risk_multiplier
    risk_cap = max_user_risk * follower_equity
    notional, cap = uncapped, EntryCap.NONE
    reason = (
        f"{master_notional:.2f} x {follower_equity:.2f} / {master_equity:.2f} x {risk_multiplier:g} "
        f"= {uncapped:.2f}"
    )
    if risk_cap < notional:
        notional, cap = risk_cap, EntryCap.MAX_USER_RISK
        reason = (
            f"{uncapped:.2f} capped at MAX_USER_RISK {max_user_risk:g} x equity {follower_equity:.2f} "
            f"= {risk_cap:.2f}"
        )
    if follower_free_cash < notional:
        notional, cap = follower_free_cash, EntryCap.FREE_CASH
        reason = f"{uncapped:.2f} capped at free cash {follower_free_cash:.2f}"
    return EntrySize(notional=notional, uncapped_notional=uncapped, cap=cap, reason=reason)


def is_full_close(master_fraction_sold: float) -> bool:
    return master_fraction_sold >= FULL_CLOSE_FRACTION


def follower_exit_quantity(
    master_fraction_sold: float,
    follower_position_quantity: float,
    min_remaining_quantity: float = 0.0,
) -> float:
    """Base quantity the follower sells: the same fraction of ITS OWN position that the master sold.

    A full master close sells the follower's whole position. When what would remain is under
    ``min_remaining_quantity`` (the exchange's minimum order size, in base units) the follower sells
    everything too, because that remainder could never be sold later.
    """
    fraction = _check("master_fraction_sold", master_fraction_sold)
    quantity = _check("follower_position_quantity", follower_position_quantity)
    minimum = _check("min_remaining_quantity", min_remaining_quantity)
    if quantity <= 0 or fraction <= 0:
        return 0.0
    if is_full_close(fraction):
        return quantity
    sell = quantity * fraction
    if quantity - sell < minimum:
        return quantity
    return sell
