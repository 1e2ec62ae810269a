"""The matching core every protocol face shares: accounts, balances, holds, orders and trades.

Assets and symbols are the bot's own (``BTC``, ``BTC-USD``); each face maps them to its exchange's
names and maps the neutral SimOrderError codes to its exchange's error strings. Market orders fill
at once at the current price plus spread and a size-dependent slippage, with the taker fee; limit
orders that cross fill as takers, the others rest with funds on hold and fill when the price comes
to them (checked whenever the exchange is touched). Every state change happens under one lock.

What differs between venues is given per order by the face:
- ``FeeModel``: the fee rates and where the fee is taken: in the quote currency (Kraken, Coinbase),
  or out of what the fill credits (Alpaca crypto: the coin on a buy, the dollars on a sale), and how
  a fee is rounded.
- ``FillTiming``: a market order that the venue accepts first and executes later (Alpaca answers
  ``pending_new`` and fills a moment later; a stock order while the market is closed waits for the
  open). Such an order is pending with its funds on hold; it executes at its simulated time (at that
  moment's price), or once a real-time cap passed when the simulated clock is paused, optionally in
  several parts (a partial fill first).

Persistence (bot/sim/persistence.py, when a state file is given): every change is marked where it is
made (``_touch`` for an account's balances or holds, ``_put`` for an order, ``_record_trade``), and
what one call changed is committed in one transaction when the lock's outermost hold is released,
so before any face answers. Derived indexes (by client id, resting orders) are rebuilt from the
orders on load (``_restore``): new state must be either marked the same way or derived there.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from bot.clock import Clock
from bot.config.sections.simulator import SimulatorSettings
from bot.sim.faults import FaultPlan
from bot.sim.persistence import ExchangeChanges, SimStateFile, decode_record
from bot.sim.prices import Candle, PriceSource


@dataclass(frozen=True)
class SimMarket:
    symbol: str
    base: str
    quote: str
    min_base_qty: float
    min_notional: float
    base_decimals: int
    price_decimals: int
    taker_fee: float
    asset_class: str = "crypto"
    maker_fee: float = 0.0


@dataclass(frozen=True)
class SimBalance:
    total: float
    hold: float

    @property
    def available(self) -> float:
        return max(self.total - self.hold, 0.0)


@dataclass(frozen=True)
class SimOrder:
    order_id: str
    account_id: str
    client_order_id: str | None
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit"
    status: str  # "open" | "closed" | "canceled"
    base_qty: float | None
    quote_notional: float | None
    limit_price: float | None
    filled_base: float
    avg_price: float
    cost: float  # quote value of the fill, fee excluded
    fee: float  # in quote
    created_at: float
    closed_at: float | None
    hold_asset: str | None = None  # what a resting order keeps on hold
    hold_amount: float = 0.0
    fee_base: float = 0.0  # fee taken out of the base asset (FeeModel charged_in "received", on a buy)
    fee_rate: float | None = None  # the rate that applies when a resting or pending order executes
    fee_in: str = "quote"  # FeeModel.charged_in
    fee_base_decimals: int | None = None
    fee_quote_decimals: int | None = None
    execute_at: float | None = None  # a pending market order executes at this simulated time ...
    execute_by_wall: float | None = None  # ... or once the wall clock passes this (a paused simulated clock)
    steps_left: int = 0  # executions still to come (more than one: partial fills)
    step_seconds: float = 0.0  # simulated time between two executions
    wall_cap_seconds: float | None = None
    reason: str = ""  # why an accepted order was canceled by the exchange
    lot_decimals: int | None = None  # the venue's quantity precision when it differs from the market's (Alpaca)
    fills: int = 0  # executions so far
    time_in_force: str = ""  # as the client sent it, where the venue shows it back (Alpaca)


@dataclass(frozen=True)
class FeeModel:
    """How a venue charges the fee of a fill."""

    taker: float | None = None  # None: the market's rate
    maker: float | None = None
    charged_in: str = "quote"  # "quote", or "received": the coin on a buy, the quote on a sale (Alpaca crypto)
    base_decimals: int | None = None  # a fee taken in the base asset is rounded half up to this; None: exact
    quote_decimals: int | None = None  # the same for a fee in the quote currency


@dataclass(frozen=True)
class FillTiming:
    """When an accepted market order executes, for venues that answer before the fill."""

    at: float  # simulated time of the (first) execution: a delay after acceptance, or the next market open
    wall_cap_seconds: float | None = None  # executes anyway once this much real time passed (None: never early)
    steps: int = 1  # executions the order fills in (2: a partial fill first)
    step_seconds: float = 0.0  # simulated time between executions


@dataclass(frozen=True)
class SimTrade:
    trade_id: str
    order_id: str
    account_id: str
    symbol: str
    side: str
    order_type: str
    price: float
    base_qty: float
    cost: float
    fee: float
    time: float
    fee_base: float = 0.0


@dataclass(frozen=True)
class SimTicker:
    symbol: str
    bid: float
    ask: float
    last: float
    volume_24h: float  # base units
    open_24h: float
    high_24h: float
    low_24h: float
    time: float


class SimOrderError(Exception):
    """An order the exchange refuses. `code` is neutral; each face maps it to its exchange's words."""

    CODES = (
        "INSUFFICIENT_FUNDS", "ORDER_MINIMUM", "COST_MINIMUM", "PRECISION", "UNKNOWN_MARKET",
        "INVALID_ARGUMENTS", "DUPLICATE_CLIENT_ID", "UNKNOWN_ORDER", "UNKNOWN_ACCOUNT",
    )

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_BASE_PLACES = 12  # beyond any venue's lot decimals, short of a float's noise


def _decimals_of(value: float) -> int:
    text = f"{Decimal(str(value)).normalize():f}"
    return len(text.split(".", 1)[1]) if "." in text else 0


def _floor(value: float, decimals: int) -> float:
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))


def _round_fee(value: float, decimals: int | None) -> float:
    """A fee rounded half up to the venue's precision (exactly, in decimal), or as computed when None."""
    if decimals is None:
        return value
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


class _CommitLock:
    """The core's one re-entrant lock; releasing its outermost hold commits what the call changed."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._on_release = on_release

    def __enter__(self) -> None:
        self._lock.acquire()
        self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._on_release()
        finally:
            self._lock.release()


class SimExchange:
    """One simulated exchange; every face (Kraken, Coinbase, Alpaca) trades against the same book.

    With `state`, everything is written through to that file, and a file that holds state is loaded
    first: the exchange carries on where the last process left it.
    """

    def __init__(
        self, prices: PriceSource, clock: Clock, seed: int = 0, settings: SimulatorSettings | None = None,
        state: SimStateFile | None = None,
    ) -> None:
        self.prices = prices
        self.clock = clock
        self.settings = settings or SimulatorSettings()
        self.faults = FaultPlan(seed)
        self.state = state
        self._random = random.Random(seed)
        self._ids_issued = 0
        self._changes = ExchangeChanges()
        self._lock = _CommitLock(self._commit)
        self._balances: dict[str, dict[str, float]] = {}
        self._holds: dict[str, dict[str, float]] = {}
        self._orders: dict[str, dict[str, SimOrder]] = {}  # account -> order id -> order (insertion = time order)
        self._by_client_id: dict[str, dict[str, list[str]]] = {}  # account -> client id -> order ids
        self._trades: dict[str, list[SimTrade]] = {}
        self._resting: dict[str, SimOrder] = {}  # open limit orders by id
        self._pending: dict[str, SimOrder] = {}  # accepted market orders waiting for their execution
        self._ticker_cache: dict[tuple[str, int], tuple[float, float, float, float]] = {}
        self._markets = {symbol: self._market_for(symbol) for symbol in prices.symbols()}
        if state is not None:
            self._restore(state)
            state.clock_now = clock.now

    def _market_for(self, symbol: str) -> SimMarket:
        spec = self.prices.spec(symbol)
        return SimMarket(
            symbol=symbol, base=spec.base, quote=spec.quote, min_base_qty=spec.ordermin, min_notional=spec.costmin,
            base_decimals=spec.lot_decimals, price_decimals=spec.pair_decimals, taker_fee=self.settings.sim_taker_fee,
            asset_class=spec.asset_class, maker_fee=self.settings.sim_maker_fee,
        )

    # ---- persistence ------------------------------------------------------------------------------
    def _touch(self, account_id: str) -> None:
        """The account's balances or holds changed (or it is new)."""
        self._changes.accounts.add(account_id)

    def _put(self, order: SimOrder) -> None:
        """Store a new order or a new version of one."""
        self._orders[order.account_id][order.order_id] = order
        self._changes.orders[order.order_id] = order

    def _record_trade(self, trade: SimTrade) -> None:
        self._trades[trade.account_id].append(trade)
        self._changes.trades.append(trade)

    def _commit(self) -> None:
        """Write what the call changed (runs as the lock's outermost hold is released)."""
        changes = self._changes
        if not changes:
            return
        self._changes = ExchangeChanges()
        if self.state is None:
            return
        changes.ids_issued = self._ids_issued
        changes.clock_at = self.clock.now()
        balances = {
            account_id: {
                asset: (total, self._holds[account_id].get(asset, 0.0))
                for asset, total in self._balances[account_id].items()
            }
            for account_id in changes.accounts
        }
        self.state.commit_exchange(changes, balances)

    def _restore(self, state: SimStateFile) -> None:
        """Load a state file's accounts, orders and trades; rebuild the indexes; continue the id sequence."""
        snapshot = state.exchange_snapshot()
        with self._lock:
            for account_id, wallet in snapshot.balances.items():
                self._balances[account_id] = {asset: total for asset, (total, _) in wallet.items()}
                self._holds[account_id] = {asset: hold for asset, (_, hold) in wallet.items() if hold}
                self._orders[account_id] = {}
                self._by_client_id[account_id] = {}
                self._trades[account_id] = []
            for text in snapshot.orders:
                order = decode_record(SimOrder, text)
                self._store(order)
                if order.status == "open":
                    (self._pending if order.order_type == "market" else self._resting)[order.order_id] = order
            for text in snapshot.trades:
                trade = decode_record(SimTrade, text)
                self._trades[trade.account_id].append(trade)
            for _ in range(snapshot.ids_issued):  # the same id sequence as if the process had never stopped
                self._random.getrandbits(128)
            self._ids_issued = snapshot.ids_issued
            self._changes = ExchangeChanges()  # what was just loaded is already in the file

    # ---- markets and prices ---------------------------------------------------------------------
    def markets(self) -> dict[str, SimMarket]:
        return dict(self._markets)

    def market(self, symbol: str) -> SimMarket:
        found = self._markets.get(symbol)
        if found is None:
            raise SimOrderError("UNKNOWN_MARKET", f"unknown market {symbol}")
        return found

    def price(self, symbol: str) -> float:
        self.market(symbol)
        return self.prices.price(symbol, self.clock.now())

    def ticker(self, symbol: str) -> SimTicker:
        market = self.market(symbol)
        now = self.clock.now()
        last = self.prices.price(symbol, now)
        volume, open_, high, low = self._day_stats(symbol, now)
        half = self.settings.sim_half_spread
        return SimTicker(
            symbol=symbol, bid=round(last * (1 - half), market.price_decimals),
            ask=round(last * (1 + half), market.price_decimals), last=round(last, market.price_decimals),
            volume_24h=volume, open_24h=open_, high_24h=max(high, last), low_24h=min(low, last), time=now,
        )

    def _day_stats(self, symbol: str, now: float) -> tuple[float, float, float, float]:
        """24 h volume/open/high/low from hourly candles, memoised per simulated minute."""
        key = (symbol, int(now // 60))
        found = self._ticker_cache.get(key)
        if found is None:
            rows = self.prices.candles(symbol, 60, now, 25)[-25:]
            found = (
                sum(r[5] for r in rows[1:]), rows[0][4], max(r[2] for r in rows[1:]), min(r[3] for r in rows[1:])
            )
            if len(self._ticker_cache) > 10_000:
                self._ticker_cache.clear()
            self._ticker_cache[key] = found
        return found

    def candles(self, symbol: str, minutes: int, count: int, end_time: float | None = None) -> list[Candle]:
        self.market(symbol)
        return self.prices.candles(symbol, minutes, self.clock.now() if end_time is None else end_time, count)

    # ---- accounts -------------------------------------------------------------------------------
    def create_account(self, account_id: str, balances: dict[str, float]) -> None:
        with self._lock:
            if account_id in self._balances:
                raise ValueError(f"simulator account {account_id!r} already exists")
            self._balances[account_id] = {asset: float(amount) for asset, amount in balances.items()}
            self._holds[account_id] = {}
            self._orders[account_id] = {}
            self._by_client_id[account_id] = {}
            self._trades[account_id] = []
            self._touch(account_id)

    def has_account(self, account_id: str) -> bool:
        return account_id in self._balances

    def accounts(self) -> list[str]:
        """Every account id, in the order they were created."""
        with self._lock:
            return list(self._balances)

    def deposit(self, account_id: str, asset: str, amount: float) -> None:
        """Add (or with a negative amount, withdraw) funds: tests fund an account later on."""
        with self._lock:
            wallet = self._wallet(account_id)
            wallet[asset] = wallet.get(asset, 0.0) + amount
            self._touch(account_id)

    def balances(self, account_id: str) -> dict[str, SimBalance]:
        with self._lock:
            self._sweep()
            wallet = self._wallet(account_id)
            holds = self._holds[account_id]
            return {asset: SimBalance(total, holds.get(asset, 0.0)) for asset, total in wallet.items()}

    def _wallet(self, account_id: str) -> dict[str, float]:
        wallet = self._balances.get(account_id)
        if wallet is None:
            raise SimOrderError("UNKNOWN_ACCOUNT", f"no simulator account {account_id!r}")
        return wallet

    # ---- orders ---------------------------------------------------------------------------------
    def place_order(
        self,
        account_id: str,
        symbol: str,
        side: str,
        order_type: str = "market",
        base_qty: float | None = None,
        quote_notional: float | None = None,
        limit_price: float | None = None,
        client_order_id: str | None = None,
        client_id_scope: str = "open",
        notional_includes_fee: bool = True,
        fees: FeeModel | None = None,
        timing: FillTiming | None = None,
        lot_decimals: int | None = None,
        time_in_force: str = "",
    ) -> SimOrder:
        """Place and (for market orders without `timing`) fill one order, or raise SimOrderError.

        client_id_scope: "open" refuses a client id only while an order with it is open (Kraken's
        cl_ord_id rule), "all" refuses any reuse (Alpaca), "none" never checks.
        notional_includes_fee: a buy's quote_notional is the total spend, fee included (Coinbase quote_size),
        or the order's cost with the fee charged on top (Kraken viqc). A fee taken out of the coin received
        (FeeModel charged_in "received") is never on top: the notional is then the cost.
        fees: the venue's fee model (default: the market's rates, in the quote currency).
        timing: a market order accepted now and executed later (see FillTiming); None executes at once.
        lot_decimals: the venue's quantity precision when it is not the market's (Alpaca crypto: 9).
        """
        fees = fees or FeeModel()
        side, order_type = str(side).lower(), str(order_type).lower()
        if side not in ("buy", "sell") or order_type not in ("market", "limit"):
            raise SimOrderError("INVALID_ARGUMENTS", f"side {side!r} / order type {order_type!r}")
        if (base_qty is None) == (quote_notional is None):
            raise SimOrderError("INVALID_ARGUMENTS", "give exactly one of base quantity or quote notional")
        if order_type == "limit" and (limit_price is None or limit_price <= 0 or base_qty is None):
            raise SimOrderError("INVALID_ARGUMENTS", "a limit order needs a positive price and a base quantity")
        market = self._lots(self.market(symbol), lot_decimals)
        taker = market.taker_fee if fees.taker is None else fees.taker
        maker = market.maker_fee if fees.maker is None else fees.maker
        fee_on_top = fees.charged_in == "quote"
        with self._lock:
            self._sweep()
            wallet = self._wallet(account_id)
            if client_order_id and client_id_scope != "none":
                for existing_id in self._by_client_id[account_id].get(client_order_id, ()):
                    existing = self._orders[account_id][existing_id]
                    if client_id_scope == "all" or existing.status == "open":
                        raise SimOrderError("DUPLICATE_CLIENT_ID", f"client order id {client_order_id} already used")
            mid = self.prices.price(symbol, self.clock.now())
            qty = self._quantity(market, side, base_qty, quote_notional, mid,
                                 notional_includes_fee and fee_on_top, taker)
            if order_type == "limit":
                assert limit_price is not None
                if _decimals_of(limit_price) > market.price_decimals:
                    raise SimOrderError(
                        "PRECISION", f"{symbol} price can only be specified up to {market.price_decimals} decimals"
                    )
            reference = limit_price if order_type == "limit" and limit_price is not None else mid
            if qty < market.min_base_qty:
                raise SimOrderError("ORDER_MINIMUM", f"volume {qty:g} under the minimum {market.min_base_qty:g}")
            if qty * reference < market.min_notional:
                raise SimOrderError("COST_MINIMUM", f"cost {qty * reference:.8g} under {market.min_notional:g}")
            order = SimOrder(
                order_id=self._new_id(), account_id=account_id, client_order_id=client_order_id, symbol=symbol,
                side=side, order_type=order_type, status="open", base_qty=qty if base_qty is not None else None,
                quote_notional=quote_notional, limit_price=limit_price, filled_base=0.0, avg_price=0.0, cost=0.0,
                fee=0.0, created_at=self.clock.now(), closed_at=None, fee_rate=taker, fee_in=fees.charged_in,
                fee_base_decimals=fees.base_decimals, fee_quote_decimals=fees.quote_decimals, lot_decimals=lot_decimals,
                time_in_force=time_in_force,
            )
            fill_price = self._taker_price(market, side, qty, mid)
            limit = limit_price or 0.0
            crosses = order_type == "market" or (side == "buy" and fill_price <= limit) or (
                side == "sell" and fill_price >= limit
            )
            holds = self._holds[account_id]
            on_top = taker if fee_on_top else 0.0
            if crosses and (timing is None or order_type == "limit"):
                self._check_funds(wallet, holds, market, side, qty, fill_price, on_top)
                order = self._fill_part(order, market, qty, fill_price, taker, self.clock.now(), last=True)
            elif crosses:
                # Accepted now, executed later: the funds it needs stay on hold until then.
                self._check_funds(wallet, holds, market, side, qty, fill_price, on_top)
                if side == "buy":
                    amount = quote_notional if quote_notional is not None else qty * fill_price * (1 + on_top)
                    order = replace(order, hold_asset=market.quote, hold_amount=amount)
                else:
                    order = replace(order, hold_asset=market.base, hold_amount=qty)
                asset = order.hold_asset or ""
                holds[asset] = holds.get(asset, 0.0) + order.hold_amount
                self._touch(account_id)
                assert timing is not None
                order = replace(
                    order, execute_at=timing.at, steps_left=max(timing.steps, 1), step_seconds=timing.step_seconds,
                    wall_cap_seconds=timing.wall_cap_seconds,
                    execute_by_wall=None if timing.wall_cap_seconds is None else time.time() + timing.wall_cap_seconds,
                )
                self._pending[order.order_id] = order
            else:
                assert limit_price is not None
                maker_on_top = maker if fee_on_top else 0.0
                hold_asset, hold_amount = (
                    (market.quote, qty * limit_price * (1 + maker_on_top)) if side == "buy" else (market.base, qty)
                )
                self._check_funds(wallet, holds, market, side, qty, limit_price, maker_on_top)
                holds[hold_asset] = holds.get(hold_asset, 0.0) + hold_amount
                self._touch(account_id)
                order = replace(order, hold_asset=hold_asset, hold_amount=hold_amount, fee_rate=maker)
                self._resting[order.order_id] = order
            self._store(order)
            return order

    @staticmethod
    def _lots(market: SimMarket, lot_decimals: int | None) -> SimMarket:
        return market if lot_decimals is None else replace(market, base_decimals=lot_decimals)

    def _quantity(
        self, market: SimMarket, side: str, base_qty: float | None, quote_notional: float | None, mid: float,
        notional_includes_fee: bool = True, taker_fee: float | None = None,
    ) -> float:
        if base_qty is not None:
            if not math.isfinite(base_qty) or base_qty <= 0:
                raise SimOrderError("INVALID_ARGUMENTS", f"volume {base_qty} must be above 0")
            if _decimals_of(base_qty) > market.base_decimals:
                raise SimOrderError(
                    "PRECISION", f"{market.symbol} volume can only be specified up to {market.base_decimals} decimals"
                )
            return float(base_qty)
        assert quote_notional is not None
        if not math.isfinite(quote_notional) or quote_notional <= 0:
            raise SimOrderError("INVALID_ARGUMENTS", f"notional {quote_notional} must be above 0")
        if side == "buy":  # spend this much quote: fee included (Coinbase quote_size) or on top (Kraken viqc)
            taker = self._taker_price(market, side, quote_notional / mid, mid)
            rate = market.taker_fee if taker_fee is None else taker_fee
            fee_factor = 1 + rate if notional_includes_fee else 1.0
            return _floor(quote_notional / (taker * fee_factor), market.base_decimals)
        return _floor(quote_notional / mid, market.base_decimals)

    def _taker_price(self, market: SimMarket, side: str, qty: float, mid: float) -> float:
        s = self.settings
        impact = min(s.sim_half_spread + s.sim_slippage_per_10k * qty * mid / 10_000.0, s.sim_max_slippage)
        return mid * (1 + impact) if side == "buy" else mid * (1 - impact)

    @staticmethod
    def _check_funds(
        wallet: dict[str, float], holds: dict[str, float], market: SimMarket, side: str, qty: float, price: float,
        fee_rate: float,
    ) -> None:
        if side == "buy":
            need, asset = qty * price * (1 + fee_rate), market.quote
        else:
            need, asset = qty, market.base
        free = wallet.get(asset, 0.0) - holds.get(asset, 0.0)
        if need > free + 1e-12:
            raise SimOrderError("INSUFFICIENT_FUNDS", f"needs {need:.8g} {asset}, {max(free, 0.0):.8g} available")

    def _fill_part(
        self, order: SimOrder, market: SimMarket, qty: float, price: float, fee_rate: float, at: float, *, last: bool
    ) -> SimOrder:
        """Execute `qty` of the order at `price` (simulated time `at`): wallet, trade and the order's totals.

        The fee is charged where the order's fee model says: in quote on top of a buy and out of a
        sale's proceeds, or ("received") out of what the fill credits: the coin bought, the quote of a sale.
        """
        wallet = self._balances[order.account_id]
        cost = qty * price
        fee_quote = fee_base = 0.0
        # A rounded fee is rounded on the order's running total, so the parts add up to the whole order's fee.
        if order.fee_in == "received" and order.side == "buy":
            fee_base = _round_fee((order.filled_base + qty) * fee_rate, order.fee_base_decimals) - order.fee_base
        else:
            fee_quote = _round_fee((order.cost + cost) * fee_rate, order.fee_quote_decimals) - order.fee
        # Coin amounts are whole lots (and fees in whole fee steps): rounding the float sum to 12 places keeps
        # 0.000208 - 0.000000548 at 0.000207452, as the venue's decimal answer says, not 0.00020745199999999998.
        if order.side == "buy":
            wallet[market.quote] = wallet.get(market.quote, 0.0) - cost - fee_quote
            wallet[market.base] = round(wallet.get(market.base, 0.0) + qty - fee_base, _BASE_PLACES)
        else:
            wallet[market.base] = round(wallet.get(market.base, 0.0) - qty, _BASE_PLACES)
            wallet[market.quote] = wallet.get(market.quote, 0.0) + cost - fee_quote
        self._touch(order.account_id)
        self._record_trade(
            SimTrade(self._new_id(), order.order_id, order.account_id, order.symbol, order.side, order.order_type,
                     price, qty, cost, fee_quote, at, fee_base)
        )
        filled = order.filled_base + qty
        total_cost = order.cost + cost
        return replace(
            order, status="closed" if last else "open", filled_base=filled,
            avg_price=total_cost / filled if filled else 0.0, cost=total_cost, fee=order.fee + fee_quote,
            fee_base=order.fee_base + fee_base, closed_at=at if last else None, fills=order.fills + 1,
            hold_asset=None if last else order.hold_asset, hold_amount=0.0 if last else order.hold_amount,
        )

    def _sweep(self) -> None:
        """Execute what is due (lazily: whenever the exchange is touched): accepted market orders whose
        time has come, and resting limit orders the price has reached."""
        if self._pending:
            self._execute_pending()
        if not self._resting:
            return
        now = self.clock.now()
        for order in list(self._resting.values()):
            market = self._markets[order.symbol]
            price = self.prices.price(order.symbol, now)
            assert order.limit_price is not None
            if (order.side == "buy" and price <= order.limit_price) or (
                order.side == "sell" and price >= order.limit_price
            ):
                self._release_hold(order)
                qty = order.base_qty or 0.0
                rate = market.maker_fee if order.fee_rate is None else order.fee_rate
                filled = self._fill_part(order, market, qty, order.limit_price, rate, now, last=True)
                del self._resting[order.order_id]
                self._put(filled)

    def _execute_pending(self) -> None:
        now, wall = self.clock.now(), time.time()
        for order in sorted(self._pending.values(), key=lambda o: (o.execute_at or 0.0, o.created_at)):
            while order.status == "open" and order.execute_at is not None and (
                now >= order.execute_at or (order.execute_by_wall is not None and wall >= order.execute_by_wall)
            ):
                order = self._execute_step(order, at=order.execute_at if now >= order.execute_at else now)
            if order.status != "open":
                self._pending.pop(order.order_id, None)
            else:
                self._pending[order.order_id] = order

    def _execute_step(self, order: SimOrder, at: float) -> SimOrder:
        """One execution of a pending market order at simulated time `at`, at that moment's price."""
        market = self._lots(self._markets[order.symbol], order.lot_decimals)
        last = order.steps_left <= 1
        self._release_hold(order)
        order = replace(order, hold_asset=None, hold_amount=0.0)
        mid = self.prices.price(order.symbol, at)
        rate = market.taker_fee if order.fee_rate is None else order.fee_rate
        on_top = rate if order.fee_in == "quote" else 0.0
        if order.quote_notional is not None:
            remaining = max(order.quote_notional - order.cost - (order.fee if on_top else 0.0), 0.0)
            part = remaining if last else remaining / order.steps_left
            price = self._taker_price(market, order.side, part / mid, mid)
            factor = 1 + on_top if order.side == "buy" else 1.0
            qty = _floor(part / (price * factor), market.base_decimals)
        else:
            remaining_qty = (order.base_qty or 0.0) - order.filled_base
            qty = remaining_qty if last else _floor(remaining_qty / order.steps_left, market.base_decimals)
            price = self._taker_price(market, order.side, qty, mid)
        try:
            if qty <= 0:
                raise SimOrderError("ORDER_MINIMUM", "nothing left to execute")
            self._check_funds(self._balances[order.account_id], self._holds[order.account_id], market, order.side,
                              qty, price, on_top)
        except SimOrderError as refused:
            if order.filled_base > 0:  # what executed stands; the rest is done
                done = replace(order, status="closed", closed_at=at, steps_left=0)
            else:
                done = replace(order, status="canceled", closed_at=at, steps_left=0, reason=refused.message)
            self._put(done)
            return done
        order = self._fill_part(order, market, qty, price, rate, at, last=last)
        if last:
            order = replace(order, steps_left=0)
        else:
            cap = order.wall_cap_seconds
            order = replace(
                order, steps_left=order.steps_left - 1, execute_at=(order.execute_at or at) + order.step_seconds,
                execute_by_wall=None if cap is None else time.time() + cap,
            )
            order = self._hold_rest(order, market, price, on_top)
        self._put(order)
        return order

    def _hold_rest(self, order: SimOrder, market: SimMarket, price: float, on_top: float) -> SimOrder:
        """Put back on hold what a partly executed order still needs."""
        if order.side == "buy":
            if order.quote_notional is not None:
                amount = max(order.quote_notional - order.cost - (order.fee if on_top else 0.0), 0.0)
            else:
                amount = ((order.base_qty or 0.0) - order.filled_base) * price * (1 + on_top)
            asset = market.quote
        else:
            amount, asset = (order.base_qty or 0.0) - order.filled_base, market.base
        holds = self._holds[order.account_id]
        holds[asset] = holds.get(asset, 0.0) + amount
        self._touch(order.account_id)
        return replace(order, hold_asset=asset, hold_amount=amount)

    def _release_hold(self, order: SimOrder) -> None:
        if order.hold_asset:
            holds = self._holds[order.account_id]
            holds[order.hold_asset] = max(holds.get(order.hold_asset, 0.0) - order.hold_amount, 0.0)
            self._touch(order.account_id)

    def _store(self, order: SimOrder) -> None:
        """A new order: stored, and indexed by its client id."""
        self._put(order)
        if order.client_order_id:
            self._by_client_id[order.account_id].setdefault(order.client_order_id, []).append(order.order_id)

    def _new_id(self) -> str:
        self._ids_issued += 1
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def cancel(self, account_id: str, order_id: str) -> SimOrder:
        with self._lock:
            self._sweep()
            order = self._orders.get(account_id, {}).get(order_id)
            if order is None:
                raise SimOrderError("UNKNOWN_ORDER", f"no order {order_id}")
            if order.status != "open":
                return order
            self._release_hold(order)
            self._resting.pop(order_id, None)
            self._pending.pop(order_id, None)
            canceled = replace(order, status="canceled", closed_at=self.clock.now(), hold_asset=None, hold_amount=0.0)
            self._put(canceled)
            return canceled

    def orders(self, account_id: str) -> list[SimOrder]:
        """Every order of the account, oldest first."""
        with self._lock:
            self._sweep()
            return list(self._orders.get(account_id, {}).values())

    def order(self, account_id: str, order_id: str) -> SimOrder | None:
        with self._lock:
            self._sweep()
            return self._orders.get(account_id, {}).get(order_id)

    def order_by_client_id(self, account_id: str, client_order_id: str) -> SimOrder | None:
        """The latest order carrying this client id, or None."""
        with self._lock:
            self._sweep()
            ids = self._by_client_id.get(account_id, {}).get(client_order_id)
            return self._orders[account_id][ids[-1]] if ids else None

    def orders_by_client_id(self, account_id: str, client_order_id: str) -> list[SimOrder]:
        """All orders carrying this client id (tests prove 'exactly once' with it)."""
        with self._lock:
            self._sweep()
            ids = self._by_client_id.get(account_id, {}).get(client_order_id, [])
            return [self._orders[account_id][i] for i in ids]

    def trades(self, account_id: str) -> list[SimTrade]:
        with self._lock:
            self._sweep()
            return list(self._trades.get(account_id, []))

    def real_time(self) -> float:
        """Host wall-clock time, for faces that must check real timestamps (Coinbase JWT nbf/exp)."""
        return time.time()
