"""The one contract every exchange adapter implements, and the values that cross it.

Symbols inside the bot are ``BASE-QUOTE`` (``BTC-USD``; Alpaca stocks ``AAPL-USD``).

Exact amounts (docs/rules.md §6): quantities, notionals, fills, fees and balances cross
this boundary as ``decimal.Decimal``, parsed from the exchange's decimal strings
(``bot.brokers.amounts``) and never through float; floats remain only for valuations and the
strategy (prices, indicators, equity). ``OrderRequest.quote_notional`` is the total quote the
account spends, fees included; each adapter turns it into its venue's own parameter.

Order placement policy lives here, once, for every adapter (``Broker.place_order``):
the request is checked against the market's rules before it is sent; after a
time-out, dropped connection or 5xx the order is looked up by its client order id
before it is ever sent again; an order whose outcome cannot be settled is returned
as IN_FLIGHT, never as rejected. Once the bot is stopping (``stop_token``) no order is
sent and no look-up waits: an order not yet sent, or whose outcome is not known, is returned
IN_FLIGHT and settled by its client order id at the next start.
"""

from __future__ import annotations

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.brokers.amounts import ZERO, floor_to, plain, to_decimal
from bot.brokers.errors import (
    MarketNotFound,
    OrderRejected,
    StopRequested,
    TransientError,
)
from bot.brokers.stopping import StopToken
from bot.brokers.telemetry import CallLog
from bot.clock import Clock, SystemClock
from bot.config.sections.exchanges import ExchangeSettings

if TYPE_CHECKING:  # candles are frames, but ids and the order types must not import pandas (status, the web)
    import pandas as pd

log = logging.getLogger(__name__)

#: the settings' defaults, for a Broker built without settings (the numbers live in ExchangeSettings only)
_EXCHANGE_DEFAULTS = ExchangeSettings()


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    IN_FLIGHT = "in_flight"  # sent, outcome unknown until a lookup settles it

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


def _quantize(value: float, decimals: int, rounding: str) -> float:
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(str(value)).quantize(step, rounding=rounding))


@dataclass(frozen=True)
class MarketInfo:
    """One tradable market with the exchange's own minimums and precision."""

    symbol: str  # BTC-USD
    base: str  # BTC
    quote: str  # USD
    exchange_symbol: str  # XXBTZUSD, BTC-USD, BTC/USD, AAPL
    min_base_qty: Decimal
    min_notional: Decimal  # quote units
    base_decimals: int
    price_decimals: int
    taker_fee: float  # fraction, 0.0026 = 0.26 %
    tradable: bool = True
    asset_class: str = "crypto"  # or "stock"
    quote_decimals: int = 2  # places of a quote amount (Kraken cost_decimals, Coinbase quote_increment)

    def __post_init__(self) -> None:
        for name in ("min_base_qty", "min_notional"):
            object.__setattr__(self, name, _exact(name, getattr(self, name)))

    def floor_qty(self, qty: Decimal) -> Decimal:
        """Round a base quantity down to the lot precision (never up: never spend more than allowed)."""
        return floor_to(max(_exact("qty", qty), ZERO), self.base_decimals)

    def floor_notional(self, notional: Decimal) -> Decimal:
        """Round a quote amount down to what the venue accepts."""
        return floor_to(max(_exact("notional", notional), ZERO), self.quote_decimals)

    def round_price(self, price: float) -> float:
        return _quantize(price, self.price_decimals, ROUND_HALF_EVEN)

    def rule_violation(self, base_qty: Decimal, price: float) -> str | None:
        """Why an order of this size would be refused by the exchange, or None when it is fine."""
        if not self.tradable:
            return f"{self.symbol} is not tradable on this exchange now"
        if base_qty <= 0:
            return f"quantity {plain(base_qty)} rounds to zero at {self.base_decimals} lot decimals"
        if base_qty < self.min_base_qty:
            return (f"quantity {plain(base_qty)} {self.base} is under the minimum "
                    f"{plain(self.min_base_qty)} {self.base}")
        notional = base_qty * Decimal(repr(float(price)))
        if notional < self.min_notional:
            return (f"order value {notional:.2f} {self.quote} is under the minimum "
                    f"{plain(self.min_notional)} {self.quote}")
        return None


def _exact(name: str, value: object) -> Decimal:
    """Decimal as it is; an int exactly; a float refused: a float amount at this boundary is a bug."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{name} must be a Decimal (exact amount), not {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class Ticker:
    symbol: str
    bid: float
    ask: float
    last: float
    volume_24h: float  # base units
    time: float = 0.0

    @property
    def volume_24h_quote(self) -> float:
        return self.volume_24h * self.last


@dataclass(frozen=True)
class AssetBalance:
    asset: str  # bot asset code: BTC, USD
    total: Decimal
    available: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", _exact("total", self.total))
        object.__setattr__(self, "available", _exact("available", self.available))

    @property
    def on_hold(self) -> Decimal:
        return max(self.total - self.available, ZERO)


@dataclass(frozen=True)
class BalanceSnapshot:
    """Cash, holdings and equity valued at current prices, all in USD."""

    cash_available: float
    cash_total: float
    assets: Mapping[str, AssetBalance] = field(default_factory=dict)
    prices_usd: Mapping[str, float] = field(default_factory=dict)  # asset -> USD price used for equity
    equity: float = 0.0
    time: float = 0.0

    def holding(self, asset: str) -> Decimal:
        balance = self.assets.get(asset)
        return balance.total if balance else ZERO


@dataclass(frozen=True)
class OrderRequest:
    """A market (or limit) order. Buys may give quote_notional; sells give base_qty.

    ``quote_notional`` is the total quote the account spends, fees included (a copy sized from
    what the master spent then costs the follower the same share of its equity on every venue).
    """

    symbol: str
    side: Side
    client_order_id: str
    base_qty: Decimal | None = None
    quote_notional: Decimal | None = None
    order_type: str = "market"
    limit_price: float | None = None

    def __post_init__(self) -> None:
        if (self.base_qty is None) == (self.quote_notional is None):
            raise ValueError("give exactly one of base_qty or quote_notional")
        for name in ("base_qty", "quote_notional"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _exact(name, value))


@dataclass(frozen=True)
class OrderResult:
    """An order as the exchange reports it, amounts exact.

    ``filled_base`` is the executed quantity (gross), ``filled_quote`` the executed value the
    exchange reports, fees excluded; ``fee_quote`` is a fee charged in the quote currency and
    ``fee_base`` a fee taken out of the base asset (Alpaca crypto buys). ``base_delta`` and
    ``quote_delta`` are what the account's holdings changed by: book positions with those.
    """

    client_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    exchange_order_id: str | None = None
    filled_base: Decimal = ZERO
    avg_price: Decimal = ZERO
    fee_quote: Decimal = ZERO
    reason: str = ""
    time: float = 0.0
    filled_quote: Decimal = ZERO
    fee_base: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("filled_base", "avg_price", "fee_quote", "filled_quote", "fee_base"):
            object.__setattr__(self, name, _exact(name, getattr(self, name)))

    @property
    def base_delta(self) -> Decimal:
        """Signed change of the account's base holding: buy gross minus a base fee; sell gross plus it."""
        if self.side is Side.BUY:
            return self.filled_base - self.fee_base
        return -(self.filled_base + self.fee_base)

    @property
    def quote_delta(self) -> Decimal:
        """Signed change of the account's quote holding: a buy spends value plus fee; a sale earns value minus fee."""
        if self.side is Side.BUY:
            return -(self.filled_quote + self.fee_quote)
        return self.filled_quote - self.fee_quote


def new_client_order_id() -> str:
    """A fresh client order id (a UUID: valid on Kraken cl_ord_id, Coinbase and Alpaca)."""
    return str(uuid.uuid4())


_COPY_NAMESPACE = uuid.UUID("6c0b7a8e-5d1e-4a8f-9a43-3a1f0f2c9e11")


def derived_client_order_id(*parts: str) -> str:
    """A client order id that is the same every time for the same parts (copy of one fill to one follower)."""
    return str(uuid.uuid5(_COPY_NAMESPACE, "|".join(parts)))


class Broker(ABC):
    """One account on one exchange. Each account owns its own instance (own session, own nonce)."""

    #: brokerage name: "kraken", "coinbase" or "alpaca"
    name: str = ""

    def __init__(
        self,
        *,
        account_label: str,
        clock: Clock | None = None,
        lookup_attempts: int = _EXCHANGE_DEFAULTS.order_lookup_attempts,
        lookup_delay_seconds: float = _EXCHANGE_DEFAULTS.order_lookup_delay_seconds,
        submit_attempts: int = 3,
        unknown_order_grace_seconds: float = _EXCHANGE_DEFAULTS.unknown_order_grace_seconds,
    ) -> None:
        self.account_label = account_label
        self.clock: Clock = clock or SystemClock()
        self.lookup_attempts = lookup_attempts
        self.lookup_delay_seconds = lookup_delay_seconds
        self.submit_attempts = submit_attempts
        self.unknown_order_grace_seconds = unknown_order_grace_seconds
        self._markets: dict[str, MarketInfo] | None = None
        self._markets_lock = threading.Lock()
        self.stop_token = StopToken()  # the trader points it at its stop event (bot.brokers.stopping)
        self.call_log = CallLog(self.name)  # every exchange call of this account: telemetry and health

    # ---- what each adapter implements -------------------------------------------------------
    @abstractmethod
    def _load_markets(self) -> dict[str, MarketInfo]:
        """All markets keyed by bot symbol."""

    @abstractmethod
    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        """Current prices for the given bot symbols (one request where the exchange allows)."""

    @abstractmethod
    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        """The last `count` CLOSED candles (columns CANDLE_COLUMNS, time = open time, ascending)."""

    @abstractmethod
    def balances(self) -> BalanceSnapshot:
        """Cash, holdings and equity in USD. A private call: raises AuthenticationError on bad keys."""

    @abstractmethod
    def _submit_order(self, request: OrderRequest, market: MarketInfo) -> OrderResult:
        """Send one order once. Raise OrderRejected, AuthenticationError or TransientError."""

    @abstractmethod
    def _find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """Look an order up by client order id; None when the exchange has no such order."""

    @abstractmethod
    def open_orders(self) -> list[OrderResult]:
        """Orders still open on the exchange for this account."""

    @abstractmethod
    def cancel_order(self, order: OrderResult) -> None:
        """Cancel an open order."""

    def server_time(self) -> float:
        return self.clock.now()

    def market_is_open(self, symbol: str) -> bool:
        """Whether the market trades now (stocks have hours; crypto always trades)."""
        return True

    def close(self) -> None:
        """Release sessions; default nothing."""

    # ---- shared behaviour ---------------------------------------------------------------------
    def markets(self, refresh: bool = False) -> dict[str, MarketInfo]:
        with self._markets_lock:
            if self._markets is None or refresh:
                self._markets = self._load_markets()
            return self._markets

    def market(self, symbol: str) -> MarketInfo:
        found = self.markets().get(symbol)
        if found is None:
            raise MarketNotFound(f"{symbol} is not listed on {self.name}", broker=self.name)
        return found

    def check_credentials(self) -> BalanceSnapshot:
        """A private read-only call proving the keys work."""
        return self.balances()

    def prepare_order(self, request: OrderRequest, price: float) -> OrderRequest:
        """Round to the exchange's precision and refuse (OrderRejected) what the exchange would refuse."""
        market = self.market(request.symbol)
        if request.base_qty is not None:
            qty = market.floor_qty(request.base_qty)
            problem = market.rule_violation(qty, price)
            if problem:
                raise OrderRejected(problem, broker=self.name)
            return replace(request, base_qty=qty)
        notional = market.floor_notional(request.quote_notional or ZERO)
        estimate = market.floor_qty(notional / to_decimal(price)) if price > 0 else ZERO
        problem = market.rule_violation(estimate, price)
        if problem:
            raise OrderRejected(problem, broker=self.name)
        return replace(request, quote_notional=notional)

    def get_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        return self._find_order(client_order_id, symbol)

    def settle(self, order: OrderResult) -> OrderResult:
        """Resolve an IN_FLIGHT order by looking it up; it stays IN_FLIGHT while the exchange cannot say.

        An order the exchange conclusively does not know is declared never placed (REJECTED) only
        once the grace period since it was sent has passed: a request that hung may still be
        executed by the exchange for a while after our client gave up on it.
        """
        conclusive, found = self._lookup_with_retries(order.client_order_id, order.symbol)
        if found is not None:
            return found
        if conclusive and self.clock.now() - order.time >= self.unknown_order_grace_seconds:
            return replace(
                order,
                status=OrderStatus.REJECTED,
                reason=f"never reached the exchange: no order with client id {order.client_order_id}",
            )
        return order

    def place_order(self, request: OrderRequest) -> OrderResult:
        """Send an order with the lookup-before-resend policy. Never raises for an unknown outcome.

        Returns FILLED/OPEN/... on success, REJECTED with the reason when the exchange refused it,
        IN_FLIGHT when it may or may not exist (the caller settles it later with ``settle``).
        Raises AuthenticationError (the account must stop) and MarketNotFound.
        """
        market = self.market(request.symbol)
        for attempt in range(1, self.submit_attempts + 1):
            if self.stop_token.is_set():
                return self._in_flight(request, "not sent: the bot is stopping; looked up at the next start")
            try:
                return self._submit_order(request, market)
            except StopRequested as stopping:  # refused before sending, or the outcome's read was not started
                return self._in_flight(request, f"{stopping}; looked up at the next start")
            except OrderRejected as rejected:
                return self._rejected(request, str(rejected))
            except TransientError as error:
                log.warning(
                    "%s order %s outcome unknown after %s (attempt %d); looking it up",
                    self.name, request.client_order_id, type(error).__name__, attempt,
                )
                conclusive, found = self._lookup_with_retries(request.client_order_id, request.symbol)
                if found is not None:
                    return found
                if not conclusive:
                    return self._in_flight(request, f"outcome unknown: {error}")
                # The exchange answered that no such order exists: sending again cannot duplicate it.
        return self._in_flight(request, "exchange kept failing; order not confirmed")

    def _lookup_with_retries(self, client_order_id: str, symbol: str) -> tuple[bool, OrderResult | None]:
        """(conclusive, order): conclusive is False when no lookup got an answer from the exchange."""
        for attempt in range(self.lookup_attempts):
            if attempt and self.stop_token.wait(self.lookup_delay_seconds, self.clock):
                break  # stopping: the next start settles it
            try:
                found = self._find_order(client_order_id, symbol)
            except TransientError:
                continue
            except StopRequested:
                break
            return True, found
        return False, None

    def _rejected(self, request: OrderRequest, reason: str) -> OrderResult:
        return self._unfilled(request, OrderStatus.REJECTED, reason)

    def _in_flight(self, request: OrderRequest, reason: str) -> OrderResult:
        return self._unfilled(request, OrderStatus.IN_FLIGHT, reason)

    def _unfilled(self, request: OrderRequest, status: OrderStatus, reason: str) -> OrderResult:
        return OrderResult(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            status=status,
            reason=reason,
            time=self.clock.now(),
        )
