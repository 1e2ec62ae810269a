"""APEX exits (docs/rules.md §4) as a pure function of a position, a price and the last closed candle.

The trader calls ``evaluate_exit`` for every open position on every monitoring pass, on its
own path, before and whatever the entry gates say (position cap, ENTRY_BLOCKING, low balance):
the old bot ran exits only inside the entry scan, so at the position cap nothing ever exited.

All levels are prices. R (risk_per_unit) is entry minus initial stop in quote units; the
targets are entry + first_target_r x R and entry + second_target_r x R, compared with `>=`,
so a target fires at exactly the price it names (the old bot mixed percents and fractions
and its targets never fired).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.config.sections.strategy import StrategySettings
from bot.strategy.fees import breakeven_price
from bot.strategy.indicators import LastCandle


class ExitReason(StrEnum):
    HOLD = "hold"
    STOP = "stop"
    BREAKEVEN_STOP = "breakeven_stop"
    TRAILING_STOP = "trailing_stop"
    FIRST_TARGET = "first_target"
    SECOND_TARGET = "second_target"
    RSI_OVERBOUGHT = "rsi_overbought"
    TIME = "time"


@dataclass(frozen=True)
class Position:
    """One open long position of one account: plain data the state store persists as is."""

    symbol: str
    entry_price: float
    quantity: float  # base units still held
    initial_quantity: float
    stop_price: float  # the stop in force now (initial, break-even or trailing)
    initial_stop: float
    risk_per_unit: float  # R = entry_price - initial_stop, in quote units per base unit
    first_target_hit: bool
    highest_close: float
    opened_at: float  # unix seconds

    @classmethod
    def open(cls, symbol: str, entry_price: float, quantity: float, stop_price: float, opened_at: float) -> Position:
        if not 0 < stop_price < entry_price:
            raise ValueError(f"{symbol}: stop {stop_price} must be between 0 and the entry price {entry_price}")
        return cls(
            symbol=symbol,
            entry_price=entry_price,
            quantity=quantity,
            initial_quantity=quantity,
            stop_price=stop_price,
            initial_stop=stop_price,
            risk_per_unit=entry_price - stop_price,
            first_target_hit=False,
            highest_close=entry_price,
            opened_at=opened_at,
        )

    def target_price(self, r_multiple: float) -> float:
        """entry + r_multiple x R: the price a target of that many R names."""
        return self.entry_price + r_multiple * self.risk_per_unit


@dataclass(frozen=True)
class ExitDecision:
    """What to do with one position now. sell_fraction is a fraction (0..1) of the quantity held now."""

    symbol: str
    sell_fraction: float
    reason: ExitReason
    trigger_price: float  # the level that fired (stop or target), else the price looked at
    stop_price: float  # the stop to keep from now on (trailing updates apply even when nothing is sold)
    highest_close: float
    breakeven_price: float = 0.0  # where the stop moves once the first target sold: the price that pays both fees

    @property
    def sells(self) -> bool:
        return self.sell_fraction > 0

    def sell_quantity(self, position: Position) -> float:
        return position.quantity if self.sell_fraction >= 1 else position.quantity * self.sell_fraction


def first_target_price(position: Position, s: StrategySettings) -> float:
    return position.target_price(s.first_target_r)


def second_target_price(position: Position, s: StrategySettings) -> float:
    return position.target_price(s.second_target_r)


def evaluate_exit(
    position: Position,
    last: LastCandle | None,
    now: float,
    s: StrategySettings,
    *,
    price: float | None = None,
    low: float | None = None,
    high: float | None = None,
    fee_rate: float = 0.0,
) -> ExitDecision:
    """The exit decision for one position.

    `price` is the latest price (live: the ticker; default: the last close). `low`/`high` are the
    lowest/highest price seen since the previous pass (the backtester passes the candle's; live
    passes nothing and they equal `price`). `last` is the last closed candle with indicators; without
    it (candles unavailable) stops, targets and the time exit still work on `price`. `fee_rate` is the
    account's taker fee: the break-even stop after the first target pays both fees (bot.strategy.fees).
    """
    if price is None:
        if last is None:
            raise ValueError(f"{position.symbol}: evaluate_exit needs a price or a last candle")
        price = last.close
    low = price if low is None else low
    high = price if high is None else high
    stop = position.stop_price
    highest = position.highest_close
    breakeven = breakeven_price(position.entry_price, fee_rate)

    def decide(fraction: float, reason: ExitReason, trigger: float) -> ExitDecision:
        return ExitDecision(position.symbol, fraction, reason, trigger, stop, highest, breakeven)

    if low <= stop:
        if not position.first_target_hit:
            reason = ExitReason.STOP
        elif stop > max(breakeven, position.entry_price) * (1.0 + 1e-12):
            reason = ExitReason.TRAILING_STOP
        else:
            reason = ExitReason.BREAKEVEN_STOP
        return decide(1.0, reason, stop)
    if position.first_target_hit:
        target = second_target_price(position, s)
        if high >= target:
            return decide(1.0, ExitReason.SECOND_TARGET, target)
    else:
        target = first_target_price(position, s)
        if high >= target:
            return decide(s.first_target_sell_fraction, ExitReason.FIRST_TARGET, target)
    if now - position.opened_at >= s.max_hold_hours * 3600.0:
        return decide(1.0, ExitReason.TIME, price)
    if last is not None:
        if last.rsi_slow > s.rsi_overbought and last.close < last.ema_fast:
            return decide(1.0, ExitReason.RSI_OVERBOUGHT, price)
        highest = max(highest, last.close)
        if position.first_target_hit and last.atr == last.atr:  # NaN-safe: no ATR, no trail move
            stop = max(stop, highest - s.trail_atr_multiple * last.atr)
    return decide(0.0, ExitReason.HOLD, price)


def apply_exit(position: Position, decision: ExitDecision, sold_quantity: float) -> Position | None:
    """The position after `sold_quantity` of this decision filled (0 when nothing sold); None when closed.

    Break-even after the first target applies only once some of it actually sold, so a refused
    order leaves the position as it was and the next pass tries again.
    """
    remaining = position.quantity - sold_quantity
    if remaining <= position.initial_quantity * 1e-9:
        return None
    stop = decision.stop_price
    hit = position.first_target_hit
    if decision.reason is ExitReason.FIRST_TARGET and sold_quantity > 0:
        hit = True
        stop = max(stop, position.entry_price, decision.breakeven_price)
    return replace(
        position, quantity=remaining, stop_price=stop, highest_close=decision.highest_close, first_target_hit=hit
    )
