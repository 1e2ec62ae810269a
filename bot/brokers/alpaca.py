"""Alpaca adapter on alpaca-py: TradingClient for the account and orders, the historical data clients for bars.

SDK facts this relies on (EXCHANGES.md): no timeout by default (mounted here on every client's
session); errors arrive as APIError carrying the JSON ``{"code", "message"}`` and the HTTP status;
the SDK itself resends any call answered 429 or 504, **POST /orders included**, so every order
carries a client_order_id and a "client_order_id must be unique" answer means our earlier attempt
went through: the adapter then fetches that order instead of reporting a refusal.

Symbols: the bot's ``BTC-USD`` is Alpaca's ``BTC/USD`` (positions say ``BTCUSD``); a stock is
``AAPL-USD`` in the bot and ``AAPL`` on Alpaca.

How Alpaca handles an order, and what the adapter reports (docs/rules.md §6):
- A market order is answered ``pending_new`` / ``accepted`` and fills a moment later: the result is
  OPEN (PARTIALLY_FILLED between two executions), never final; ``Broker.settle`` and ``get_order``
  (``orders:by_client_order_id``) bring it to FILLED.
- A stock order while the market is closed is sent all the same: Alpaca accepts a ``day`` market
  order and fills it at the next open. ``market_is_open`` stays for callers that prefer to wait.
- Crypto fees are taken out of what the fill credits: the coin on a buy (``fee_base``), the dollars
  on a sale (``fee_quote``). The order JSON carries no fee; Alpaca posts CFEE account activities
  at the end of the day, too late to book a fill. So the fee is computed as Alpaca charges it: the
  filled quantity (or value) times the account's crypto taker rate (ALPACA_CRYPTO_TAKER_FEE, the
  fee tier of the account), rounded half up to 9 decimals. Stocks are commission-free
  (ALPACA_STOCK_TAKER_FEE, 0 by default).
- Quantities and notionals are sent as decimal strings, exactly (the SDK's request models hold
  floats, which cannot carry every 9-decimal quantity).
- A refused key answers 401 or 403 (``{"message": "forbidden."}``): both are AuthenticationError.
  An order refused for its own reasons (403 insufficient balance, 422) carries an Alpaca error code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient as AlpacaRESTClient
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.requests import CryptoBarsRequest, CryptoSnapshotRequest, StockBarsRequest, StockSnapshotRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetStatus, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import GetAssetsRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from bot.brokers.amounts import ZERO, decimals_of, plain, round_half_up, to_decimal
from bot.brokers.base import (
    AssetBalance,
    BalanceSnapshot,
    Broker,
    MarketInfo,
    OrderRequest,
    OrderResult,
    OrderStatus,
    Side,
    Ticker,
)
from bot.brokers.errors import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailable,
    OrderRejected,
    RateLimitError,
)
from bot.brokers.http import mount_timeout
from bot.candles import candle_frame
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.sections.exchanges import alpaca_paper
from bot.config.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

_DUPLICATE = "client_order_id must be unique"
_FEE_DECIMALS = 9  # Alpaca's precision for quantities and amounts
_STATUS = {
    "new": OrderStatus.OPEN,
    "accepted": OrderStatus.OPEN,
    "pending_new": OrderStatus.OPEN,
    "accepted_for_bidding": OrderStatus.OPEN,
    "held": OrderStatus.OPEN,
    "calculated": OrderStatus.OPEN,
    "pending_cancel": OrderStatus.OPEN,
    "pending_replace": OrderStatus.OPEN,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "done_for_day": OrderStatus.CANCELED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "stopped": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
}


def _stamp(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class AlpacaBroker(Broker):
    name = "alpaca"

    def __init__(self, account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> None:
        """make_broker's signature. Credentials: key id, secret and the paper flag (paper endpoints by default)."""
        exchange = settings.exchanges
        super().__init__(
            account_label=account.label,
            clock=clock,
            lookup_attempts=exchange.order_lookup_attempts,
            lookup_delay_seconds=exchange.order_lookup_delay_seconds,
        )
        credentials = account.credentials
        if credentials is None or not credentials.api_key or not credentials.api_secret:
            problem = account.credential_problem or "not configured"
            raise AuthenticationError(f"{account.label}: no Alpaca API key/secret ({problem})", broker=self.name)
        self.settings = exchange
        self.cash_assets = tuple(settings.general.cash_assets)
        self.trading = TradingClient(
            api_key=credentials.api_key,
            secret_key=credentials.api_secret,
            paper=alpaca_paper(credentials.paper, settings.general.live_trading),
            url_override=exchange.alpaca_api_url,
        )
        self.crypto_data = CryptoHistoricalDataClient(
            api_key=credentials.api_key, secret_key=credentials.api_secret, url_override=exchange.alpaca_data_url,
        )
        self.stock_data = StockHistoricalDataClient(
            api_key=credentials.api_key, secret_key=credentials.api_secret, url_override=exchange.alpaca_data_url,
        )
        for client in self._clients():
            mount_timeout(client._session, exchange.exchange_timeout_seconds, calls=self.call_log, stop=self.stop_token)
            client._retry = exchange.alpaca_sdk_retries
            client._retry_wait = exchange.alpaca_sdk_retry_wait_seconds  # type: ignore[assignment]

    def _clients(self) -> tuple[AlpacaRESTClient, ...]:
        return (self.trading, self.crypto_data, self.stock_data)

    # ---- one place that classifies failures ------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise self._classify(what, exc) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise ExchangeUnavailable(f"alpaca {what}: {type(exc).__name__}", broker=self.name) from exc
        except requests.JSONDecodeError as exc:
            raise ExchangeUnavailable(f"alpaca {what}: answer was not JSON", broker=self.name) from exc

    def _classify(self, what: str, exc: APIError) -> BrokerError:
        status = exc.status_code or 0
        try:
            message = str(exc.message)
        except (ValueError, KeyError, TypeError):
            message = str(exc)[:300]
        try:
            code: int | None = int(exc.code)
        except (ValueError, KeyError, TypeError):
            code = None
        text = f"alpaca {what} (HTTP {status}): {message}"
        # A refused key is 401, or 403 {"message": "forbidden."} without an Alpaca error code; a 403 about one
        # order (insufficient balance) carries a code such as 40310000.
        if status == 401 or (status == 403 and (code is None or "forbidden" in message.lower()
                                                  or "not authorized" in message.lower())):
            return AuthenticationError(text, broker=self.name)
        if status == 429:
            return RateLimitError(text, broker=self.name)
        if status >= 500:
            return ExchangeUnavailable(text, broker=self.name)
        if status == 404:
            return _NotFound(text, broker=self.name)
        if status in (403, 422) and what == "submit order":
            return OrderRejected(message, broker=self.name)
        return BrokerError(text, broker=self.name)

    # ---- symbols ---------------------------------------------------------------------------------
    @staticmethod
    def _bot_symbol(alpaca_symbol: str, asset_class: str) -> str | None:
        if asset_class == "crypto":
            base, _, quote = alpaca_symbol.partition("/")
            return f"{base}-{quote}" if quote == "USD" else None
        return f"{alpaca_symbol}-USD"

    def _load_markets(self) -> dict[str, MarketInfo]:
        assets = self._call("assets", self.trading.get_all_assets, GetAssetsRequest(status=AssetStatus.ACTIVE))
        markets: dict[str, MarketInfo] = {}
        for asset in assets:
            asset_class = "crypto" if _enum_text(asset.asset_class) == "crypto" else "stock"
            symbol = self._bot_symbol(asset.symbol, asset_class)
            if symbol is None:
                continue
            base = symbol.rsplit("-", 1)[0]
            if asset_class == "crypto":
                markets[symbol] = MarketInfo(
                    symbol=symbol, base=base, quote="USD", exchange_symbol=asset.symbol,
                    min_base_qty=to_decimal(asset.min_order_size),
                    min_notional=to_decimal(self.settings.alpaca_min_notional),
                    base_decimals=decimals_of(asset.min_trade_increment, 9),
                    price_decimals=decimals_of(asset.price_increment, 2),
                    taker_fee=self.settings.alpaca_crypto_taker_fee,
                    tradable=bool(asset.tradable), asset_class="crypto",
                )
            else:
                fractional = bool(asset.fractionable)
                markets[symbol] = MarketInfo(
                    symbol=symbol, base=base, quote="USD", exchange_symbol=asset.symbol,
                    min_base_qty=to_decimal(asset.min_order_size, default=Decimal(0 if fractional else 1)),
                    min_notional=to_decimal(self.settings.alpaca_min_notional),
                    base_decimals=self.settings.alpaca_stock_qty_decimals if fractional else 0,
                    price_decimals=self.settings.alpaca_stock_price_decimals,
                    taker_fee=self.settings.alpaca_stock_taker_fee,
                    tradable=bool(asset.tradable), asset_class="stock",
                )
        return markets

    def market_is_open(self, symbol: str) -> bool:
        if self.market(symbol).asset_class != "stock":
            return True
        return bool(self._call("clock", self.trading.get_clock).is_open)

    # ---- market data --------------------------------------------------------------------------------
    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        crypto: dict[str, str] = {}
        stocks: dict[str, str] = {}
        for symbol in symbols:
            market = self.market(symbol)
            (stocks if market.asset_class == "stock" else crypto)[market.exchange_symbol] = symbol
        snapshots: dict[str, Any] = {}
        if crypto:
            snapshots.update(self._call("crypto snapshots", self.crypto_data.get_crypto_snapshot,
                                        CryptoSnapshotRequest(symbol_or_symbols=list(crypto))))
        if stocks:
            snapshots.update(self._call("stock snapshots", self.stock_data.get_stock_snapshot,
                                        StockSnapshotRequest(symbol_or_symbols=list(stocks))))
        names = {**crypto, **stocks}
        out: dict[str, Ticker] = {}
        for alpaca_symbol, snap in snapshots.items():
            symbol = names.get(alpaca_symbol)
            if symbol is None:
                continue
            quote, trade, daily = snap.latest_quote, snap.latest_trade, snap.daily_bar
            last = float(trade.price) if trade else float(daily.close) if daily else 0.0
            out[symbol] = Ticker(
                symbol=symbol,
                bid=float(quote.bid_price) if quote else last,
                ask=float(quote.ask_price) if quote else last,
                last=last,
                volume_24h=float(daily.volume) if daily else 0.0,
                time=trade.timestamp.timestamp() if trade else self.clock.now(),
            )
        return out

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        market = self.market(symbol)
        step = minutes * 60
        now = self.clock.now()
        current_open = int(now // step) * step
        # Stocks only have bars in market hours: look back over nights and a weekend.
        lookback = (count + 1) * step * (1 if market.asset_class == "crypto" else 5) + (
            0 if market.asset_class == "crypto" else 4 * 86400
        )
        common = {
            "symbol_or_symbols": market.exchange_symbol,
            "timeframe": TimeFrame(minutes, TimeFrameUnit.Minute) if minutes < 60 or minutes % 60
            else TimeFrame(minutes // 60, TimeFrameUnit.Hour),
            "start": datetime.fromtimestamp(current_open - lookback, UTC),
            "end": datetime.fromtimestamp(current_open - 1, UTC),
            "limit": count,
            "sort": Sort.DESC,
        }
        if market.asset_class == "crypto":
            bars = self._call("crypto bars", self.crypto_data.get_crypto_bars, CryptoBarsRequest(**common))
        else:
            bars = self._call("stock bars", self.stock_data.get_stock_bars, StockBarsRequest(**common))
        rows = {
            int(bar.timestamp.timestamp()): (bar.open, bar.high, bar.low, bar.close, bar.volume)
            for bar in bars.data.get(market.exchange_symbol, [])
            if bar.timestamp.timestamp() < current_open
        }
        return candle_frame([(t, *values) for t, values in sorted(rows.items())[-count:]])

    # ---- balances ------------------------------------------------------------------------------------
    def balances(self) -> BalanceSnapshot:
        account = self._call("account", self.trading.get_account)
        positions = self._call("positions", self.trading.get_all_positions)
        cash = to_decimal(account.cash)
        buying_power = to_decimal(account.non_marginable_buying_power or account.buying_power, default=cash)
        assets: dict[str, AssetBalance] = {"USD": AssetBalance("USD", cash, min(buying_power, cash))}
        by_plain = {m.exchange_symbol.replace("/", ""): m for m in self.markets().values()}
        prices: dict[str, float] = {}
        holdings_value = 0.0
        for position in positions:
            market = by_plain.get(position.symbol.replace("/", ""))
            base = market.base if market else position.symbol
            qty = to_decimal(position.qty)
            available = to_decimal(position.qty_available, default=qty)
            assets[base] = AssetBalance(base, qty, available)
            if position.current_price is not None:
                prices[base] = float(position.current_price)
            holdings_value += float(position.market_value or 0.0)
        return BalanceSnapshot(
            cash_available=float(assets["USD"].available),
            cash_total=float(cash),
            assets=assets,
            prices_usd=prices,
            equity=float(account.equity) if account.equity is not None else float(cash) + holdings_value,
            time=self.clock.now(),
        )

    # ---- orders ----------------------------------------------------------------------------------------
    def _submit_order(self, request: OrderRequest, market: MarketInfo) -> OrderResult:
        """POST /v2/orders; the answer is usually pending (OPEN): settle it by look-up."""
        side = OrderSide.BUY if request.side is Side.BUY else OrderSide.SELL
        tif = TimeInForce.GTC if market.asset_class == "crypto" else TimeInForce.DAY  # fractional stocks: day only
        # notional: the total spend; Alpaca takes a crypto fee out of the coin received, never on top of it.
        if request.quote_notional is not None:
            exact = {"notional": plain(market.floor_notional(request.quote_notional))}
        else:
            exact = {"qty": plain(market.floor_qty(request.base_qty or ZERO))}
        size = {name: float(value) for name, value in exact.items()}  # for the SDK's validation only
        order_request: MarketOrderRequest | LimitOrderRequest
        if request.order_type == "limit":
            if request.limit_price is None:
                raise OrderRejected("a limit order needs limit_price", broker=self.name)
            order_request = LimitOrderRequest(
                symbol=market.exchange_symbol, side=side, time_in_force=tif, client_order_id=request.client_order_id,
                limit_price=market.round_price(request.limit_price), **size,
            )
        else:
            order_request = MarketOrderRequest(
                symbol=market.exchange_symbol, side=side, time_in_force=tif,
                client_order_id=request.client_order_id, **size,
            )
        fields = {**order_request.to_request_fields(), **exact}  # the amounts as exact decimal strings
        try:
            answer = self._call("submit order", self.trading.post, "/orders", fields)
        except OrderRejected as refused:
            if _DUPLICATE in str(refused):
                # The SDK resent our POST after a 429/504 and the first one had gone through.
                found = self._find_order(request.client_order_id, request.symbol)
                if found is not None:
                    return found
            raise
        return self._result(Order(**answer) if isinstance(answer, dict) else answer, request.symbol)

    def _result(self, order: Any, symbol: str | None = None) -> OrderResult:
        """An order with its amounts exact and its fee where Alpaca takes it (see the module docstring)."""
        status = _STATUS.get(_enum_text(order.status), OrderStatus.OPEN)
        filled = to_decimal(order.filled_qty)
        avg = to_decimal(order.filled_avg_price)
        if symbol is None:
            symbol = self._bot_symbol(str(order.symbol), "crypto" if "/" in str(order.symbol) else "stock") or ""
        market = self.markets().get(symbol)
        side = Side.BUY if _enum_text(order.side) == "buy" else Side.SELL
        value = filled * avg  # Alpaca reports no filled value: quantity x average price, exactly
        rate = Decimal(repr(market.taker_fee)) if market else ZERO
        fee_base = fee_quote = ZERO
        if market is not None and market.asset_class == "crypto" and side is Side.BUY:
            fee_base = round_half_up(filled * rate, _FEE_DECIMALS)  # out of the coin received
        else:
            fee_quote = round_half_up(value * rate, _FEE_DECIMALS)  # out of the dollars received
        return OrderResult(
            client_order_id=order.client_order_id,
            symbol=symbol,
            side=side,
            status=status,
            exchange_order_id=str(order.id),
            filled_base=filled,
            avg_price=avg,
            filled_quote=value,
            fee_quote=fee_quote,
            fee_base=fee_base,
            reason="",
            time=_stamp(order.filled_at or order.updated_at) or self.clock.now(),  # when it filled, by the venue
        )

    def _find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        try:
            order = self._call("order by client id", self.trading.get_order_by_client_id, client_order_id)
        except _NotFound:
            return None
        return self._result(order, symbol)

    def open_orders(self) -> list[OrderResult]:
        orders = self._call("open orders", self.trading.get_orders,
                            GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500))
        return [self._result(o) for o in orders]

    def cancel_order(self, order: OrderResult) -> None:
        if not order.exchange_order_id:
            found = self._find_order(order.client_order_id, order.symbol)
            if found is None or not found.exchange_order_id:
                raise OrderRejected(f"order {order.client_order_id} not found on alpaca", broker=self.name)
            order = found
        try:
            self._call("cancel", self.trading.cancel_order_by_id, order.exchange_order_id)
        except _NotFound as exc:
            raise OrderRejected(str(exc), broker=self.name) from exc

    def server_time(self) -> float:
        return self._call("clock", self.trading.get_clock).timestamp.timestamp()

    def close(self) -> None:
        for client in self._clients():
            client._session.close()


class _NotFound(BrokerError):
    """HTTP 404 from Alpaca: the order (or asset) does not exist. Internal: callers see None or OrderRejected."""
