"""The backtest loop: APEX on closed candles with the live rules for exits, sizing, fees, minimums and precision.

Indicators and entry signals are computed once per series, vectorised (bot.strategy); the loop
only walks the candles in time order across pairs and books fills. Per candle: exits first for
every open position (stop against the candle's low, targets against its high, then the
closed-candle rules), then entries through the same gates as live (plan_entries, size_entry).

Fills: entries at the signal candle's close plus slippage; a stop at the stop price, or the
open when the candle gapped through it; a target at the target price (or the open when it
gapped over it); time and RSI exits at the close; every fill pays the taker fee on top.

Copy-trading followers (docs/rules.md §5) copy each master fill with the copy engine's own sizing
functions (bot.copy.sizing): entries sized by equity ratio x risk multiplier and capped at
MAX_USER_RISK and free cash, exits as the same fraction of the follower's own position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot.backtest.rules import MarketRules
from bot.config.settings import Settings
from bot.copy.sizing import follower_entry_notional, follower_exit_quantity
from bot.strategy.apex import EntrySignal, signal_frame
from bot.strategy.exits import ExitDecision, ExitReason, Position, apply_exit, evaluate_exit
from bot.strategy.indicators import INDICATOR_COLUMNS, LastCandle, compute_indicators
from bot.strategy.plan import plan_entries
from bot.strategy.sizing import exit_quantity, floor_to_decimals, minimum_violation, size_entry

_GAP_REASONS = (ExitReason.STOP, ExitReason.BREAKEVEN_STOP, ExitReason.TRAILING_STOP)
_MAX_ACTIONS_PER_CANDLE = 4


def _category(problem: str) -> str:
    """A skip reason without its numbers, so the report can count them."""
    if "minimum" in problem:
        return "order under the exchange minimum"
    if "rounds to zero" in problem:
        return "quantity rounds to zero"
    return problem.split(" (")[0].split(":")[0]


@dataclass(frozen=True)
class Trade:
    """One closed round trip of one account (partial sales included)."""

    symbol: str
    opened_at: float
    closed_at: float
    quantity: float
    cost: float  # quote spent, buy fee included
    proceeds: float  # quote received, sell fees deducted
    exit_reason: str

    @property
    def pnl(self) -> float:
        return self.proceeds - self.cost


@dataclass
class _Book:
    quantity: float
    cost: float
    opened_at: float
    proceeds: float = 0.0


@dataclass
class Account:
    """One simulated account's money: cash, holdings, closed trades, fees and skipped orders."""

    name: str
    start_balance: float
    risk_multiplier: float = 1.0
    cash: float = 0.0
    fees: float = 0.0
    books: dict[str, _Book] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    equity_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    exposed_steps: int = 0
    invested_fraction_sum: float = 0.0

    def __post_init__(self) -> None:
        self.cash = self.start_balance

    def holdings_value(self, prices: Mapping[str, float]) -> float:
        return sum(book.quantity * prices[sym] for sym, book in self.books.items())

    def equity(self, prices: Mapping[str, float]) -> float:
        return self.cash + self.holdings_value(prices)

    def buy(self, symbol: str, qty: float, price: float, fee_rate: float, now: float) -> float:
        """Book a buy; returns the quote spent before the fee."""
        cost = qty * price
        fee = cost * fee_rate
        self.cash -= cost + fee
        self.fees += fee
        book = self.books.get(symbol)
        if book is None:
            self.books[symbol] = _Book(qty, cost + fee, now)
        else:
            book.quantity += qty
            book.cost += cost + fee
        return cost

    def sell(
        self, symbol: str, qty: float, price: float, fee_rate: float, now: float, reason: str, decimals: int
    ) -> None:
        book = self.books[symbol]
        value = qty * price
        fee = value * fee_rate
        self.cash += value - fee
        self.fees += fee
        book.proceeds += value - fee
        book.quantity = round(book.quantity - qty, decimals)  # holdings stay on the lot grid, no float dust
        if book.quantity <= 0:
            self.trades.append(
                Trade(symbol, book.opened_at, now, qty, book.cost, book.proceeds, reason)
            )
            del self.books[symbol]


@dataclass
class _Series:
    """One pair's candles with indicators and signals as plain arrays, and its row at each timeline step."""

    symbol: str
    columns: dict[str, np.ndarray]
    row_at: np.ndarray  # timeline index -> row, -1 where this pair has no candle

    def last(self, row: int) -> LastCandle:
        return LastCandle(self.symbol, *(float(self.columns[name][row]) for name in _LAST_FIELDS))


_LAST_FIELDS = ("time", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)


@dataclass(frozen=True)
class BacktestResult:
    timeline: np.ndarray  # candle open times
    candle_seconds: int
    accounts: list[Account]
    rules: MarketRules
    pairs: tuple[str, ...]
    candles: int  # candles processed over all pairs


def _prepare(frames: Mapping[str, pd.DataFrame], settings: Settings) -> tuple[np.ndarray, list[_Series]]:
    s = settings.strategy
    timeline = np.unique(np.concatenate([frame["time"].to_numpy(dtype="int64") for frame in frames.values()]))
    series = []
    for symbol, frame in frames.items():
        signals = signal_frame(compute_indicators(frame, s), s)
        names = (*_LAST_FIELDS, "stop_price", "confidence")
        columns = {name: signals[name].to_numpy(dtype="float64") for name in names}
        columns["entry"] = signals["entry"].to_numpy(dtype=bool)
        row_at = np.full(len(timeline), -1, dtype="int64")
        row_at[np.searchsorted(timeline, frame["time"].to_numpy(dtype="int64"))] = np.arange(len(frame))
        series.append(_Series(symbol, columns, row_at))
    return timeline, series


class _Run:
    def __init__(
        self, settings: Settings, rules: MarketRules, master: Account, followers: list[Account], candle_seconds: int
    ) -> None:
        self.settings = settings
        self.s = settings.strategy
        self.rules = rules
        self.master = master
        self.followers = followers
        self.candle_seconds = candle_seconds
        self.positions: dict[str, Position] = {}
        self.prices: dict[str, float] = {}

    # ---- exits ----------------------------------------------------------------------------
    def exits(self, series: _Series, row: int, now: float) -> None:
        position = self.positions.get(series.symbol)
        if position is None:
            return
        cols = series.columns
        last = series.last(row)
        candle_open, low, high = cols["open"][row], cols["low"][row], cols["high"][row]
        for _ in range(_MAX_ACTIONS_PER_CANDLE):
            decision = evaluate_exit(position, last, now, self.s, price=last.close, low=low, high=high)
            if not decision.sells:
                self.positions[series.symbol] = apply_exit(position, decision, 0.0) or position
                return
            fill = self._exit_fill(decision, candle_open)
            sold = self._master_sell(position, decision, fill, now)
            if sold <= 0:
                self.positions.pop(series.symbol, None)  # unsellable dust: stays in the book, valued at market
                return
            updated = apply_exit(position, decision, sold)
            if updated is None:
                del self.positions[series.symbol]
                return
            position = updated
            self.positions[series.symbol] = position
            low = max(low, min(decision.trigger_price, last.close))  # the rest of the candle runs from there

    def _exit_fill(self, decision: ExitDecision, candle_open: float) -> float:
        price = decision.trigger_price
        if decision.reason in _GAP_REASONS:
            price = min(price, candle_open)
        elif decision.reason in (ExitReason.FIRST_TARGET, ExitReason.SECOND_TARGET):
            price = max(price, candle_open)
        return price * (1.0 - self.rules.slippage)

    def _master_sell(self, position: Position, decision: ExitDecision, fill: float, now: float) -> float:
        rules = self.rules
        held = self.master.books[position.symbol].quantity
        qty, problem = exit_quantity(
            held,
            decision.sell_fraction,
            fill,
            min_notional=rules.min_notional,
            min_base_qty=rules.min_base_qty,
            base_decimals=rules.base_decimals,
        )
        if problem:
            self.master.skipped[f"exit {decision.reason}: {_category(problem)}"] += 1
            return 0.0
        fraction = min(qty / held, 1.0)
        self.master.sell(position.symbol, qty, fill, rules.fee_rate, now, str(decision.reason), rules.base_decimals)
        for follower in self.followers:
            self._follower_sell(follower, position.symbol, fraction, fill, now, str(decision.reason))
        return qty

    def _follower_sell(
        self, follower: Account, symbol: str, fraction: float, fill: float, now: float, reason: str
    ) -> None:
        book = follower.books.get(symbol)
        if book is None:
            return
        rules = self.rules
        min_qty = max(rules.min_base_qty, rules.min_notional / fill)
        qty = follower_exit_quantity(fraction, book.quantity, min_remaining_quantity=min_qty)
        qty = book.quantity if qty >= book.quantity else floor_to_decimals(qty, rules.base_decimals)
        problem = minimum_violation(qty, fill, rules.min_base_qty, rules.min_notional)
        if problem:
            follower.skipped[f"exit: {_category(problem)}"] += 1
            return
        follower.sell(symbol, qty, fill, rules.fee_rate, now, reason, rules.base_decimals)

    # ---- entries --------------------------------------------------------------------------
    def entries(self, candidates: list[tuple[_Series, int]], now: float) -> None:
        signals = {}
        for series, row in candidates:
            cols = series.columns
            signals[series.symbol] = EntrySignal(
                symbol=series.symbol,
                time=float(cols["time"][row]),
                price=float(cols["close"][row]),
                stop_price=float(cols["stop_price"][row]),
                atr=float(cols["atr"][row]),
                confidence=float(cols["confidence"][row]),
                reasons=(),
            )
        general = self.settings.general
        open_symbols = set(self.positions)
        plan = plan_entries(
            signals.values(),
            open_symbols,
            max_positions=general.max_concurrent_positions,
            entry_blocking=general.entry_blocking,
        )
        for _symbol, reason in plan.skipped:
            self.master.skipped[f"entry: {_category(reason)}"] += 1
        for signal in plan.entries:
            self._enter(signal, now)

    def _enter(self, signal: EntrySignal, now: float) -> None:
        rules = self.rules
        fill = signal.price * (1.0 + rules.slippage)
        equity_before = self.master.equity(self.prices)
        size = size_entry(
            equity_before,
            self.master.cash,
            fill,
            signal.stop_price,
            self.s,
            min_notional=rules.min_notional,
            min_base_qty=rules.min_base_qty,
            base_decimals=rules.base_decimals,
            fee_rate=rules.fee_rate,
        )
        if size.skipped:
            self.master.skipped[f"entry: {_category(size.reason)}"] += 1
            return
        notional = self.master.buy(signal.symbol, size.base_qty, fill, rules.fee_rate, now)
        self.positions[signal.symbol] = Position.open(signal.symbol, fill, size.base_qty, signal.stop_price, now)
        for follower in self.followers:
            self._follower_buy(follower, signal.symbol, notional, equity_before, fill, now)

    def _follower_buy(
        self, follower: Account, symbol: str, master_notional: float, master_equity: float, fill: float, now: float
    ) -> None:
        rules = self.rules
        size = follower_entry_notional(
            master_notional,
            master_equity,
            follower.equity(self.prices),
            max(follower.cash, 0.0) / (1.0 + rules.fee_rate),  # the fee is paid on top of the notional
            follower.risk_multiplier,
            self.settings.general.max_user_risk,
        )
        qty = floor_to_decimals(size.notional / fill, rules.base_decimals)
        problem = minimum_violation(qty, fill, rules.min_base_qty, rules.min_notional)
        if problem:
            follower.skipped[f"entry: {_category(problem)}"] += 1
            return
        follower.buy(symbol, qty, fill, rules.fee_rate, now)

    # ---- bookkeeping ----------------------------------------------------------------------
    def record(self, step: int) -> None:
        for account in (self.master, *self.followers):
            held = account.holdings_value(self.prices) if account.books else 0.0
            equity = account.cash + held
            account.equity_curve[step] = equity
            if account.books:
                account.exposed_steps += 1
                account.invested_fraction_sum += held / equity if equity > 0 else 0.0


def run_backtest(
    frames: Mapping[str, pd.DataFrame],
    settings: Settings,
    rules: MarketRules,
    *,
    balance: float,
    followers: int = 0,
    candle_seconds: int,
) -> BacktestResult:
    """Run APEX over `frames` (symbol -> candles) for a master with `balance` and N followers."""
    if balance <= 0:
        raise ValueError(f"--balance {balance}: expected a positive USD amount")
    timeline, all_series = _prepare(frames, settings)
    master = Account("master", balance)
    ratio = settings.backtest.backtest_follower_balance_ratio
    follower_accounts = [
        Account(f"follower_{i}", balance * ratio**i, settings.backtest.backtest_follower_risk_multiplier)
        for i in range(1, followers + 1)
    ]
    for account in (master, *follower_accounts):
        account.equity_curve = np.zeros(len(timeline))
    run = _Run(settings, rules, master, follower_accounts, candle_seconds)
    rows_by_series = [(series, series.row_at) for series in all_series]
    entry_flags = [series.columns["entry"] for series in all_series]
    closes = [series.columns["close"] for series in all_series]
    for step in range(len(timeline)):
        now = float(timeline[step]) + candle_seconds  # the candle has just closed
        candidates: list[tuple[_Series, int]] = []
        for index, (series, row_at) in enumerate(rows_by_series):
            row = int(row_at[step])
            if row < 0:
                continue
            run.prices[series.symbol] = float(closes[index][row])
            if series.symbol in run.positions:
                run.exits(series, row, now)
            if entry_flags[index][row]:
                candidates.append((series, row))
        if candidates:
            run.entries(candidates, now)
        run.record(step)
    return BacktestResult(
        timeline=timeline,
        candle_seconds=candle_seconds,
        accounts=[master, *follower_accounts],
        rules=rules,
        pairs=tuple(frames),
        candles=sum(len(frame) for frame in frames.values()),
    )
