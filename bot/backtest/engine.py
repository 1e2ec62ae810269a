"""The backtest loop: APEX on closed candles with the live rules for exits, sizing, fees, minimums and precision.

Indicators are computed once per series (`prepare`, reusable across runs whose settings do not change
them: the walk-forward tuner runs hundreds of trials on one preparation); entry signals once per run,
vectorised (bot.strategy). The loop then visits only the candles where something can happen: a candle
with an entry signal, or any candle while a position is open. With nothing held it jumps to the next
signal, so its cost follows the positions, not the candles, and followers cost nothing between fills.
Equity curves are built afterwards from the cash and holdings each fill left, vectorised.

Per visited candle: exits first for every open position (stop against the candle's low, targets
against its high, then the closed-candle rules), then entries through the same planning as live
(plan_entries with the account's fee, size_entry).

Fills: entries at the signal candle's close plus slippage; a stop at the stop price, or the open
when the candle gapped through it; a target at the target price (or the open when it gapped over
it); time and RSI exits at the close; every fill pays the taker fee on top.

Copy-trading followers (docs/rules.md §5) copy each master fill with the copy engine's own sizing
functions (bot.copy.sizing): entries sized by equity ratio x risk multiplier and capped at
MAX_USER_RISK and free cash, exits as the same fraction of the follower's own position.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot.backtest.rules import MarketRules
from bot.candles import CANDLE_COLUMNS
from bot.config.sections.strategy import StrategySettings
from bot.config.settings import Settings
from bot.copy.sizing import follower_entry_notional, follower_exit_quantity
from bot.strategy.apex import ENTRY_INPUTS, EntrySignal, entry_block
from bot.strategy.exits import ExitDecision, ExitReason, Position, apply_exit, evaluate_exit
from bot.strategy.fees import FEE_SKIP
from bot.strategy.indicators import INDICATOR_COLUMNS, LastCandle, indicator_block
from bot.strategy.plan import plan_entries
from bot.strategy.sizing import exit_quantity, floor_to_decimals, minimum_violation, size_entry

_GAP_REASONS = (ExitReason.STOP, ExitReason.BREAKEVEN_STOP, ExitReason.TRAILING_STOP)
_MAX_ACTIONS_PER_CANDLE = 4
_LAST_FIELDS = (*CANDLE_COLUMNS, *INDICATOR_COLUMNS)


def _category(problem: str) -> str:
    """A skip reason without its numbers, so the report can count them."""
    if problem.startswith(FEE_SKIP):
        return FEE_SKIP
    if "minimum" in problem:
        return "order under the exchange minimum"
    if "rounds to zero" in problem:
        return "quantity rounds to zero"
    return problem.split(" (")[0].split(":")[0]


@dataclass(frozen=True)
class ExitFill:
    """One sale of a position (a round trip may have several: the first target, then the rest)."""

    time: float
    reason: str
    quantity: float
    price: float  # fill price, slippage included
    proceeds: float  # quote received, the sale's fee deducted
    fee: float


@dataclass(frozen=True)
class Trade:
    """One closed round trip of one account (partial sales included)."""

    symbol: str
    opened_at: float
    closed_at: float
    quantity: float  # base units bought
    cost: float  # quote spent, buy fee included
    proceeds: float  # quote received, sell fees deducted
    exit_reason: str  # the sale that closed it
    entry_price: float = 0.0  # fill price, slippage included
    fees: float = 0.0  # buy and sell fees
    exits: tuple[ExitFill, ...] = ()

    @property
    def pnl(self) -> float:
        return self.proceeds - self.cost

    @property
    def return_fraction(self) -> float:
        return self.pnl / self.cost if self.cost > 0 else 0.0

    @property
    def exit_price(self) -> float:
        """Quantity-weighted mean of the sale prices."""
        sold = sum(fill.quantity for fill in self.exits)
        return sum(fill.quantity * fill.price for fill in self.exits) / sold if sold > 0 else 0.0


@dataclass
class _Book:
    quantity: float
    cost: float
    opened_at: float
    entry_price: float
    bought: float
    fees: float
    proceeds: float = 0.0
    exits: list[ExitFill] = field(default_factory=list)
    since_step: int = 0  # the step from which `quantity` has been held unchanged


@dataclass
class Account:
    """One simulated account's money: cash, holdings, closed trades, fees, skipped orders, and what it held when."""

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
    # what the curve is built from: (step, cash after that step's fills), (symbol, quantity, first, end step)
    cash_marks: list[tuple[int, float]] = field(default_factory=list)
    holdings: list[tuple[str, float, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cash = self.start_balance

    def holdings_value(self, prices: Mapping[str, float]) -> float:
        return sum(book.quantity * prices[sym] for sym, book in self.books.items())

    def equity(self, prices: Mapping[str, float]) -> float:
        return self.cash + self.holdings_value(prices)

    def _held(self, symbol: str, book: _Book, step: int) -> None:
        """Close the holding segment that ends at `step` (its quantity changes there)."""
        if step > book.since_step:
            self.holdings.append((symbol, book.quantity, book.since_step, step))
        book.since_step = step

    def buy(self, symbol: str, qty: float, price: float, fee_rate: float, now: float, step: int = 0) -> float:
        """Book a buy; returns the quote spent before the fee."""
        cost = qty * price
        fee = cost * fee_rate
        self.cash -= cost + fee
        self.fees += fee
        book = self.books.get(symbol)
        if book is None:
            self.books[symbol] = _Book(qty, cost + fee, now, price, qty, fee, since_step=step)
        else:
            self._held(symbol, book, step)
            book.quantity += qty
            book.cost += cost + fee
            book.fees += fee
            book.bought += qty
            book.entry_price = (book.cost - book.fees) / book.bought
        self.cash_marks.append((step, self.cash))
        return cost

    def sell(
        self, symbol: str, qty: float, price: float, fee_rate: float, now: float, reason: str, decimals: int,
        step: int = 0,
    ) -> None:
        book = self.books[symbol]
        value = qty * price
        fee = value * fee_rate
        self.cash += value - fee
        self.fees += fee
        self._held(symbol, book, step)
        book.proceeds += value - fee
        book.fees += fee
        book.exits.append(ExitFill(now, reason, qty, price, value - fee, fee))
        book.quantity = round(book.quantity - qty, decimals)  # holdings stay on the lot grid, no float dust
        self.cash_marks.append((step, self.cash))
        if book.quantity <= 0:
            self.trades.append(
                Trade(symbol, book.opened_at, now, book.bought, book.cost, book.proceeds, reason,
                      book.entry_price, book.fees, tuple(book.exits))
            )
            del self.books[symbol]

    def close_holdings(self, end: int) -> None:
        """At the end of the run: the positions still open are held to the last step."""
        for symbol, book in self.books.items():
            self._held(symbol, book, end)


@dataclass(frozen=True)
class Prepared:
    """Candles on one timeline with their indicators: computed once, reused by every run over them."""

    timeline: np.ndarray  # candle open times, every pair's, ascending
    symbols: tuple[str, ...]
    columns: dict[str, dict[str, np.ndarray]]  # symbol -> column -> values per row of that pair
    row_at: dict[str, np.ndarray]  # symbol -> timeline step -> row, -1 where the pair has no candle
    last_row_at: dict[str, np.ndarray]  # symbol -> timeline step -> the last row at or before it, -1 before any
    step_of: dict[str, np.ndarray]  # symbol -> row -> timeline step

    def close_at(self, symbol: str, step: int) -> float:
        row = int(self.last_row_at[symbol][step])
        return float(self.columns[symbol]["close"][row]) if row >= 0 else float("nan")

    def closes(self, symbol: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """The last known close at each step of [start, end) (NaN before the pair's first candle)."""
        rows = self.last_row_at[symbol][start:end]
        values = self.columns[symbol]["close"][np.maximum(rows, 0)]
        return np.where(rows >= 0, values, np.nan)

    def step_for(self, time: float) -> int:
        """The first step whose candle opens at or after `time`."""
        return int(np.searchsorted(self.timeline, time, side="left"))


def prepare(frames: Mapping[str, pd.DataFrame], s: StrategySettings) -> Prepared:
    """Every pair's indicators, once (they depend only on the periods in `s`)."""
    if not frames:
        raise ValueError("no candles to backtest")
    timeline = np.unique(np.concatenate([frame["time"].to_numpy(dtype="int64") for frame in frames.values()]))
    columns: dict[str, dict[str, np.ndarray]] = {}
    row_at: dict[str, np.ndarray] = {}
    last_row_at: dict[str, np.ndarray] = {}
    step_of: dict[str, np.ndarray] = {}
    for symbol, frame in frames.items():
        cols = {name: frame[name].to_numpy(dtype="float64").reshape(-1, 1) for name in _LAST_FIELDS[:6]}
        block = indicator_block(cols["high"], cols["low"], cols["close"], cols["volume"], s)
        columns[symbol] = {name: values[:, 0] for name, values in {**cols, **block}.items()}
        steps = np.searchsorted(timeline, frame["time"].to_numpy(dtype="int64"))
        rows = np.full(len(timeline), -1, dtype="int64")
        rows[steps] = np.arange(len(frame))
        row_at[symbol] = rows
        last_row_at[symbol] = np.maximum.accumulate(rows)
        step_of[symbol] = steps
    return Prepared(timeline, tuple(frames), columns, row_at, last_row_at, step_of)


@dataclass(frozen=True)
class Signals:
    """Entry flags, confidence and stop per row of each pair, for one set of strategy settings."""

    entry: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]
    stop_price: dict[str, np.ndarray]


def signals_for(prepared: Prepared, s: StrategySettings) -> Signals:
    entry, confidence, stop = {}, {}, {}
    for symbol, cols in prepared.columns.items():
        rules = entry_block({name: cols[name] for name in ENTRY_INPUTS}, s)
        entry[symbol], confidence[symbol], stop[symbol] = rules["entry"], rules["confidence"], rules["stop_price"]
    return Signals(entry, confidence, stop)


@dataclass(frozen=True)
class BacktestResult:
    timeline: np.ndarray  # candle open times of the run's window
    candle_seconds: int
    accounts: list[Account]
    rules: MarketRules
    pairs: tuple[str, ...]
    candles: int  # candles processed over all pairs
    prepared: Prepared | None = None
    start_step: int = 0  # the window inside prepared.timeline

    def closes(self, symbol: str) -> np.ndarray:
        """Each pair's close at every step of the run (NaN before its first candle)."""
        assert self.prepared is not None
        return self.prepared.closes(symbol, self.start_step, self.start_step + len(self.timeline))


class _Run:
    def __init__(
        self, settings: Settings, s: StrategySettings, rules: MarketRules, prepared: Prepared, signals: Signals,
        master: Account, followers: list[Account], candle_seconds: int,
    ) -> None:
        self.settings = settings
        self.s = s
        self.rules = rules
        self.prepared = prepared
        self.signals = signals
        self.master = master
        self.followers = followers
        self.candle_seconds = candle_seconds
        self.positions: dict[str, Position] = {}
        self.step = 0

    def price(self, symbol: str) -> float:
        return self.prepared.close_at(symbol, self.step)

    def equity(self, account: Account) -> float:
        return account.cash + sum(book.quantity * self.price(sym) for sym, book in account.books.items())

    # ---- exits ----------------------------------------------------------------------------
    def exits(self, symbol: str, row: int, now: float) -> None:
        position = self.positions[symbol]
        cols = self.prepared.columns[symbol]
        last = LastCandle(symbol, *(float(cols[name][row]) for name in _LAST_FIELDS))
        candle_open, low, high = last.open, last.low, last.high
        for _ in range(_MAX_ACTIONS_PER_CANDLE):
            decision = evaluate_exit(
                position, last, now, self.s, price=last.close, low=low, high=high, fee_rate=self.rules.fee_rate
            )
            if not decision.sells:
                self.positions[symbol] = apply_exit(position, decision, 0.0) or position
                return
            fill = self._exit_fill(decision, candle_open)
            sold = self._master_sell(position, decision, fill, now)
            if sold <= 0:
                self.positions.pop(symbol, None)  # unsellable dust: stays in the book, valued at market
                return
            updated = apply_exit(position, decision, sold)
            if updated is None:
                del self.positions[symbol]
                return
            position = updated
            self.positions[symbol] = position
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
        self.master.sell(position.symbol, qty, fill, rules.fee_rate, now, str(decision.reason), rules.base_decimals,
                         self.step)
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
        follower.sell(symbol, qty, fill, rules.fee_rate, now, reason, rules.base_decimals, self.step)

    # ---- entries --------------------------------------------------------------------------
    def entries(self, candidates: list[tuple[str, int]], now: float) -> None:
        signals = []
        for symbol, row in candidates:
            cols = self.prepared.columns[symbol]
            signals.append(EntrySignal(
                symbol=symbol,
                time=float(cols["time"][row]),
                price=float(cols["close"][row]),
                stop_price=float(self.signals.stop_price[symbol][row]),
                atr=float(cols["atr"][row]),
                confidence=float(self.signals.confidence[symbol][row]),
                reasons=(),
            ))
        general = self.settings.general
        plan = plan_entries(
            signals,
            set(self.positions),
            max_positions=general.max_concurrent_positions,
            entry_blocking=general.entry_blocking,
            strategy=self.s,
            fee_rates=self.rules.fee_rate,
        )
        for _symbol, reason in plan.skipped:
            self.master.skipped[f"entry: {_category(reason)}"] += 1
        for signal in plan.entries:
            self._enter(signal, now)

    def _enter(self, signal: EntrySignal, now: float) -> None:
        rules = self.rules
        fill = signal.price * (1.0 + rules.slippage)
        equity_before = self.equity(self.master)
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
        notional = self.master.buy(signal.symbol, size.base_qty, fill, rules.fee_rate, now, self.step)
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
            self.equity(follower),
            max(follower.cash, 0.0) / (1.0 + rules.fee_rate),  # the fee is paid on top of the notional
            follower.risk_multiplier,
            self.settings.general.max_user_risk,
        )
        qty = floor_to_decimals(size.notional / fill, rules.base_decimals)
        problem = minimum_violation(qty, fill, rules.min_base_qty, rules.min_notional)
        if problem:
            follower.skipped[f"entry: {_category(problem)}"] += 1
            return
        follower.buy(symbol, qty, fill, rules.fee_rate, now, self.step)


def _candidate_steps(prepared: Prepared, signals: Signals, start: int, end: int) -> dict[int, list[tuple[str, int]]]:
    """Timeline step -> the (pair, row) entry signals closing there, inside [start, end)."""
    by_step: dict[int, list[tuple[str, int]]] = {}
    for symbol in prepared.symbols:
        rows = np.flatnonzero(signals.entry[symbol])
        steps = prepared.step_of[symbol][rows]
        inside = (steps >= start) & (steps < end)
        for step, row in zip(steps[inside].tolist(), rows[inside].tolist(), strict=True):
            by_step.setdefault(step, []).append((symbol, row))
    return by_step


def _equity_curve(account: Account, prepared: Prepared, start: int, end: int) -> tuple[np.ndarray, int, float]:
    """(equity at each step of [start, end), steps with something held, sum of the invested share while held)."""
    n = end - start
    cash = np.full(n, np.nan)
    cash[0] = account.start_balance
    for step, value in account.cash_marks:
        cash[step - start] = value
    filled = pd.Series(cash).ffill().to_numpy()
    held = np.zeros(n)
    exposed = np.zeros(n, dtype=bool)
    for symbol, qty, first, stop in account.holdings:
        a, b = first - start, stop - start
        held[a:b] += qty * prepared.closes(symbol, first, stop)
        exposed[a:b] = True
    equity = filled + held
    with np.errstate(divide="ignore", invalid="ignore"):
        invested = np.where(exposed & (equity > 0), held / equity, 0.0)
    return equity, int(exposed.sum()), float(invested.sum())


def run_backtest(
    frames: Mapping[str, pd.DataFrame],
    settings: Settings,
    rules: MarketRules,
    *,
    balance: float,
    followers: int = 0,
    candle_seconds: int,
    prepared: Prepared | None = None,
    strategy: StrategySettings | None = None,
    window: tuple[float, float] | None = None,
) -> BacktestResult:
    """Run APEX over `frames` (symbol -> candles) for a master with `balance` and N followers.

    `prepared` reuses indicators computed by `prepare` (its periods must be those of `strategy`);
    `strategy` overrides settings.strategy (the tuner's trials); `window` = (first, end) candle open
    times limits the run to part of the data, indicators still warmed up on everything before it.
    """
    if balance <= 0:
        raise ValueError(f"--balance {balance}: expected a positive USD amount")
    s = strategy or settings.strategy
    prepared = prepared or prepare(frames, s)
    start, end = 0, len(prepared.timeline)
    if window is not None:
        start, end = prepared.step_for(window[0]), prepared.step_for(window[1])
    if end <= start:
        raise ValueError("the backtest window holds no candle")
    signals = signals_for(prepared, s)
    master = Account("master", balance)
    ratio = settings.backtest.backtest_follower_balance_ratio
    follower_accounts = [
        Account(f"follower_{i}", balance * ratio**i, settings.backtest.backtest_follower_risk_multiplier)
        for i in range(1, followers + 1)
    ]
    run = _Run(settings, s, rules, prepared, signals, master, follower_accounts, candle_seconds)
    candidates = _candidate_steps(prepared, signals, start, end)
    candidate_steps = sorted(candidates)
    row_at = prepared.row_at
    timeline = prepared.timeline
    step = candidate_steps[0] if candidate_steps else end
    while step < end:
        run.step = step
        now = float(timeline[step]) + candle_seconds  # the candle has just closed
        for symbol in list(run.positions):
            row = int(row_at[symbol][step])
            if row >= 0:
                run.exits(symbol, row, now)
        waiting = candidates.get(step)
        if waiting:
            run.entries(waiting, now)
        if run.positions:
            step += 1
        else:  # nothing held: nothing happens until the next signal
            index = bisect.bisect_right(candidate_steps, step)
            step = candidate_steps[index] if index < len(candidate_steps) else end
    accounts = [master, *follower_accounts]
    for account in accounts:
        account.close_holdings(end)
        account.equity_curve, account.exposed_steps, account.invested_fraction_sum = _equity_curve(
            account, prepared, start, end
        )
    candles = sum(int((steps >= start).sum() - (steps >= end).sum()) for steps in prepared.step_of.values())
    return BacktestResult(
        timeline=timeline[start:end],
        candle_seconds=candle_seconds,
        accounts=accounts,
        rules=rules,
        pairs=prepared.symbols,
        candles=candles,
        prepared=prepared,
        start_step=start,
    )
