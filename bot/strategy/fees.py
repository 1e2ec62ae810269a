"""The taker fee as part of the plan (docs/rules.md §4, "Fees").

A long round trip buys at P paying the fee f on top and sells at P' losing f of the proceeds, so it
breaks even at P' = P x (1 + f) / (1 - f). With Coinbase's 0.6 % that is +1.207 %: a 0.8 % stop
(the plain floor) makes the +1R half-sale and the break-even stop lose money by construction.
So, per account and market (the fee is the account's, not the market data's):
- the stop floor is at least the round trip plus `fee_margin`, so that +1R clears the fees;
- an entry whose first target still cannot clear the round trip plus the margin (a stop capped at
  `stop_max_fraction`, a first target under 1R) is skipped, with that reason;
- "break-even" after the first target is the fee break-even above, not the entry price.
"""

from __future__ import annotations

from dataclasses import replace

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import EntrySignal

#: skip reasons start with this, so reports can count them as one category
FEE_SKIP = "first target does not clear the fees"


def round_trip(fee_rate: float) -> float:
    """The price rise, as a fraction, at which a buy and a sale at fee_rate each break even."""
    return (1.0 + fee_rate) / (1.0 - fee_rate) - 1.0


def breakeven_price(entry_price: float, fee_rate: float) -> float:
    """The sale price at which a position bought at entry_price loses nothing after both fees."""
    return entry_price * (1.0 + fee_rate) / (1.0 - fee_rate)


def required_gain(fee_rate: float, s: StrategySettings) -> float:
    """What the stop floor and the first target must clear, as a fraction of the entry price."""
    return round_trip(fee_rate) + s.fee_margin


def with_fees(signal: EntrySignal, fee_rate: float, s: StrategySettings) -> EntrySignal | str:
    """The signal planned for an account that pays `fee_rate`: stop floor raised to clear the fees, targets
    and break-even filled in; or the reason it is skipped (starting with FEE_SKIP)."""
    price = signal.price
    need = required_gain(fee_rate, s)
    distance = min(max(price - signal.stop_price, need * price), s.stop_max_fraction * price)
    first_gain = s.first_target_r * distance / price
    if first_gain < need * (1.0 - 1e-12):
        return (
            f"{FEE_SKIP} (+{first_gain * 100:.2f} % < {round_trip(fee_rate) * 100:.2f} % round trip "
            f"+ {s.fee_margin * 100:.2f} % margin)"
        )
    return replace(
        signal,
        stop_price=price - distance,
        fee_rate=fee_rate,
        first_target_price=price + s.first_target_r * distance,
        second_target_price=price + s.second_target_r * distance,
        breakeven_price=breakeven_price(price, fee_rate),
    )
