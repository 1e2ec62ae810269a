"""One pass of an account: exits for every open position, then entries through their gates.

Two separate functions on purpose: ``plan_exits`` takes no gate at all (position cap,
ENTRY_BLOCKING and balance only ever reach ``plan_entries``), so nothing that stops entries
can stop an exit. The trader's monitoring pass calls ``plan_exits`` alone; its strategy pass
calls both. The backtester runs the same two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import EntrySignal
from bot.strategy.exits import ExitDecision, Position, evaluate_exit
from bot.strategy.fees import with_fees
from bot.strategy.indicators import LastCandle


def fee_for(fee_rates: Mapping[str, float] | float, symbol: str) -> float:
    """One symbol's fee from the account's fee per symbol (or one fee for all); a symbol missing from the
    mapping is an error, never a silent zero fee."""
    if isinstance(fee_rates, Mapping):
        if symbol not in fee_rates:
            raise KeyError(f"no taker fee given for {symbol}")
        return float(fee_rates[symbol])
    return float(fee_rates)


def plan_exits(
    positions: Iterable[Position],
    lasts: Mapping[str, LastCandle],
    now: float,
    s: StrategySettings,
    prices: Mapping[str, float] | None = None,
    *,
    fee_rates: Mapping[str, float] | float,
) -> list[ExitDecision]:
    """evaluate_exit for every open position that has a price or a candle (including HOLD decisions,
    whose trailing-stop updates the caller applies)."""
    decisions = []
    for position in positions:
        last = lasts.get(position.symbol)
        price = (prices or {}).get(position.symbol)
        if last is None and price is None:
            continue
        fee = fee_for(fee_rates, position.symbol)
        decisions.append(evaluate_exit(position, last, now, s, price=price, fee_rate=fee))
    return decisions


@dataclass(frozen=True)
class EntryPlan:
    entries: tuple[EntrySignal, ...]
    skipped: tuple[tuple[str, str], ...]  # (symbol, reason)


def entry_block_reason(
    symbol: str, open_symbols: Iterable[str], *, max_positions: int, entry_blocking: bool
) -> str:
    """Why no new position may be opened on `symbol` now, or ''."""
    held = set(open_symbols)
    if entry_blocking:
        return "ENTRY_BLOCKING is on: no new entries (exits keep working)"
    if symbol in held:
        return f"already holding {symbol} (one position per symbol)"
    if len(held) >= max_positions:
        return f"at MAX_CONCURRENT_POSITIONS ({max_positions})"
    return ""


def plan_entries(
    signals: Iterable[EntrySignal],
    open_symbols: Iterable[str],
    *,
    max_positions: int,
    entry_blocking: bool,
    strategy: StrategySettings,
    fee_rates: Mapping[str, float] | float,
) -> EntryPlan:
    """The signals that may be entered, planned for this account's fees, highest confidence first, up to the
    position cap; the rest with reasons.

    Confidence decides who gets a slot when slots are short, and who is sized first (so who gets the cash)
    when cash is short: the caller sizes `entries` in order. A signal whose first target cannot clear the
    fees is skipped before it takes a slot.
    """
    held = set(open_symbols)
    entries: list[EntrySignal] = []
    skipped: list[tuple[str, str]] = []
    for signal in sorted(signals, key=lambda sig: (-sig.confidence, sig.symbol)):
        reason = entry_block_reason(
            signal.symbol, held, max_positions=max_positions, entry_blocking=entry_blocking
        )
        if not reason:
            planned = with_fees(signal, fee_for(fee_rates, signal.symbol), strategy)
            if isinstance(planned, EntrySignal):
                entries.append(planned)
                held.add(signal.symbol)
                continue
            reason = planned
        skipped.append((signal.symbol, reason))
    return EntryPlan(tuple(entries), tuple(skipped))
