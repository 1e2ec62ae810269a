"""Coinbase Advanced Trade adapter on coinbase-advanced-py's RESTClient.

SDK facts this relies on (EXCHANGES.md): URLs are always ``https://{base_url}``, so base_url is a
bare host[:port]; a JWT is signed per request from the PEM EC key; refused orders are HTTP 200
with ``success: false``; non-2xx raises requests.HTTPError; no retries and no default timeout
(mounted here). This machine sets REQUESTS_CA_BUNDLE, which beats ``session.verify``, so when a
CA bundle is configured the session stops trusting the environment.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests
from coinbase.rest import RESTClient
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.brokers.amounts import ZERO, decimals_of, plain, to_decimal
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
from bot.config.settings import Settings
from bot.logsetup import route_library_logger

log = logging.getLogger(__name__)
route_library_logger("coinbase.RESTClient")

T = TypeVar("T")

#: Coinbase's candle granularities, in minutes
GRANULARITIES = {
    1: "ONE_MINUTE",
    5: "FIVE_MINUTE",
    15: "FIFTEEN_MINUTE",
    30: "THIRTY_MINUTE",
    60: "ONE_HOUR",
    120: "TWO_HOUR",
    360: "SIX_HOUR",
    1440: "ONE_DAY",
}
MAX_CANDLES_PER_REQUEST = 350  # the exchange's own limit
PAGE_SIZE = 250  # accounts / orders per page (the exchange's maximum)
_OPEN_STATES = {"OPEN", "PENDING", "QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED"}


def key_problem(secret: str, where: str) -> str | None:
    """Why the SDK could not sign with this secret (it takes a PEM EC key or a base64 Ed25519 key), or None."""
    if secret.lstrip().startswith("-----BEGIN"):
        try:
            key = load_pem_private_key(secret.encode(), password=None)
        except (ValueError, TypeError):
            return f"{where} is not a readable PEM private key"
        return None if isinstance(key, ec.EllipticCurvePrivateKey) else f"{where} is not an EC (ES256) key"
    try:
        raw = base64.b64decode("".join(secret.split()), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    return None if len(raw) in (32, 64) else f"{where} is neither a PEM EC private key nor a base64 Ed25519 key"


def _stamp(text: object) -> float | None:
    """An RFC 3339 time of the venue (last_fill_time, created_time) as unix seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """SDK response objects expose fields as attributes, nested amounts as plain dicts."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class CoinbaseBroker(Broker):
    name = "coinbase"

    def __init__(self, account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> None:
        """make_broker's signature. Credentials: the CDP key name and its PEM EC (ES256) private key."""
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
            raise AuthenticationError(f"{account.label}: no Coinbase API key/secret ({problem})", broker=self.name)
        # A key the SDK cannot sign with stops the account at its first private call, with the reason.
        self._key_problem = key_problem(credentials.api_secret, f"{account.label}: {credentials.source}_API_SECRET")
        self.cash_assets = tuple(settings.general.cash_assets)
        self.fallback_taker_fee = exchange.coinbase_taker_fee
        self.client = RESTClient(
            api_key=credentials.api_key,
            api_secret=credentials.api_secret,
            base_url=exchange.coinbase_api_url.split("://", 1)[-1].rstrip("/"),  # the SDK adds https://
        )  # no SDK timeout: the mounted adapter's applies to every call
        session: requests.Session = self.client.session
        if exchange.coinbase_ca_bundle:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
            session.verify = exchange.coinbase_ca_bundle
        mount_timeout(session, exchange.exchange_timeout_seconds, calls=self.call_log, stop=self.stop_token)

    # ---- one place that classifies failures ------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._key_problem:
            raise AuthenticationError(self._key_problem, broker=self.name)
        try:
            return fn(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            detail = exc.response.text[:300] if exc.response is not None else str(exc)
            if status in (401, 403):
                raise AuthenticationError(f"coinbase refused the key on {what} (HTTP {status}): {detail}",
                                          broker=self.name) from exc
            if status == 429:
                raise RateLimitError(f"coinbase rate limit on {what}", broker=self.name) from exc
            if status >= 500:
                raise ExchangeUnavailable(f"coinbase {what} failed with HTTP {status}", broker=self.name) from exc
            if status in (400, 422) and what == "create order":  # the order itself was malformed for Coinbase
                raise OrderRejected(f"coinbase refused the order (HTTP {status}): {detail}", broker=self.name) from exc
            raise BrokerError(f"coinbase {what} failed with HTTP {status}: {detail}", broker=self.name) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise ExchangeUnavailable(f"coinbase {what}: {type(exc).__name__}", broker=self.name) from exc
        except requests.JSONDecodeError as exc:
            raise ExchangeUnavailable(f"coinbase {what}: answer was not JSON", broker=self.name) from exc

    # ---- markets -------------------------------------------------------------------------------------
    def _load_markets(self) -> dict[str, MarketInfo]:
        summary = self._call("transaction_summary", self.client.get_transaction_summary)
        fallback = self.fallback_taker_fee  # the account's fee tier when Coinbase reports one, else this
        taker_fee = float(_field(_field(summary, "fee_tier", {}), "taker_fee_rate", fallback) or fallback)
        response = self._call("products", self.client.get_products, product_type="SPOT")
        markets: dict[str, MarketInfo] = {}
        for product in _field(response, "products", []) or []:
            product_id = _field(product, "product_id")
            base, quote = _field(product, "base_currency_id"), _field(product, "quote_currency_id")
            if not product_id or not base or not quote:
                continue
            tradable = (
                _field(product, "status") == "online"
                and not _field(product, "trading_disabled", False)
                and not _field(product, "is_disabled", False)
                and not _field(product, "cancel_only", False)
                and not _field(product, "limit_only", False)
            )
            price_increment = _field(product, "price_increment") or _field(product, "quote_increment") or "0.01"
            markets[f"{base}-{quote}"] = MarketInfo(
                symbol=f"{base}-{quote}",
                base=base,
                quote=quote,
                exchange_symbol=product_id,
                min_base_qty=to_decimal(_field(product, "base_min_size")),
                min_notional=to_decimal(_field(product, "quote_min_size")),
                base_decimals=decimals_of(_field(product, "base_increment") or "0.00000001"),
                price_decimals=decimals_of(price_increment),
                taker_fee=taker_fee,
                tradable=tradable,
                asset_class="crypto",
                quote_decimals=decimals_of(_field(product, "quote_increment") or "0.01", 2),
            )
        return markets

    def _product_ids(self, symbols: Iterable[str]) -> dict[str, str]:
        return {self.market(s).exchange_symbol: s for s in symbols}

    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        wanted = self._product_ids(symbols)
        if not wanted:
            return {}
        books = self._call("best_bid_ask", self.client.get_best_bid_ask, product_ids=list(wanted))
        products = self._call("products", self.client.get_products, product_ids=list(wanted))
        stats = {_field(p, "product_id"): p for p in _field(products, "products", []) or []}
        now = self.clock.now()
        out: dict[str, Ticker] = {}
        for book in _field(books, "pricebooks", []) or []:
            product_id = _field(book, "product_id")
            if product_id not in wanted:
                continue
            bids, asks = _field(book, "bids", []) or [], _field(book, "asks", []) or []
            product = stats.get(product_id)
            last = float(_field(product, "price", 0) or 0) if product is not None else 0.0
            bid = float(_field(bids[0], "price")) if bids else last
            ask = float(_field(asks[0], "price")) if asks else last
            out[wanted[product_id]] = Ticker(
                symbol=wanted[product_id],
                bid=bid,
                ask=ask,
                last=last or (bid + ask) / 2,
                volume_24h=float(_field(product, "volume_24h", 0) or 0) if product is not None else 0.0,
                time=now,
            )
        return out

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        granularity = GRANULARITIES.get(minutes)
        if granularity is None:
            raise ValueError(f"coinbase has no {minutes}-minute candles; use one of {sorted(GRANULARITIES)}")
        product_id = self.market(symbol).exchange_symbol
        step = minutes * 60
        now = self.clock.now()
        current_open = int(now // step) * step  # the still-open candle starts here
        end = current_open - step  # last closed candle
        rows: dict[int, tuple[float, ...]] = {}
        while count > 0 and len(rows) < count:
            remaining = count - len(rows)
            span = min(remaining, MAX_CANDLES_PER_REQUEST - 1)
            start = end - (span - 1) * step
            answer = self._call(
                "candles", self.client.get_candles, product_id=product_id,
                start=str(int(start)), end=str(int(end)), granularity=granularity,
            )
            batch = _field(answer, "candles", []) or []
            for candle in batch:
                t = int(_field(candle, "start"))
                if t < current_open:
                    rows[t] = (
                        float(_field(candle, "open")), float(_field(candle, "high")), float(_field(candle, "low")),
                        float(_field(candle, "close")), float(_field(candle, "volume")),
                    )
            if not batch:
                break
            end = start - step
        return candle_frame([(t, *values) for t, values in sorted(rows.items())[-count:]])

    # ---- balances -----------------------------------------------------------------------------------
    def balances(self) -> BalanceSnapshot:
        accounts: list[Any] = []
        cursor: str | None = None
        while True:
            page = self._call("accounts", self.client.get_accounts, limit=PAGE_SIZE, cursor=cursor)
            accounts.extend(_field(page, "accounts", []) or [])
            cursor = _field(page, "cursor")
            if not _field(page, "has_next", False) or not cursor:
                break
        assets: dict[str, AssetBalance] = {}
        for account in accounts:
            currency = _field(account, "currency")
            available = to_decimal(_field(_field(account, "available_balance", {}), "value"))
            hold = to_decimal(_field(_field(account, "hold", {}), "value"))
            if not currency or available + hold <= 0:
                continue
            previous = assets.get(currency)
            total = available + hold + (previous.total if previous else ZERO)
            free = available + (previous.available if previous else ZERO)
            assets[currency] = AssetBalance(asset=currency, total=total, available=free)
        cash_total = sum(float(assets[a].total) for a in self.cash_assets if a in assets)
        cash_available = sum(float(assets[a].available) for a in self.cash_assets if a in assets)
        markets = self.markets()
        priced = [f"{a}-USD" for a in assets if a not in self.cash_assets and f"{a}-USD" in markets]
        prices = {t.symbol.split("-")[0]: t.last for t in self.tickers(priced).values()} if priced else {}
        equity = cash_total + sum(float(assets[a].total) * p for a, p in prices.items())  # a valuation
        return BalanceSnapshot(
            cash_available=cash_available,
            cash_total=cash_total,
            assets=assets,
            prices_usd=prices,
            equity=equity,
            time=self.clock.now(),
        )

    # ---- orders ----------------------------------------------------------------------------------------
    def _submit_order(self, request: OrderRequest, market: MarketInfo) -> OrderResult:
        """CreateOrder, then GetOrder for the fill.

        A buy of ``quote_notional`` is sent as ``quote_size`` unchanged: Coinbase counts the fee inside
        quote_size (the order's ``filled_value`` plus ``total_fees`` is what was spent), which is exactly
        the contract's meaning of quote_notional.
        """
        side = "BUY" if request.side is Side.BUY else "SELL"
        if request.order_type == "limit":
            if request.limit_price is None or request.base_qty is None:
                raise OrderRejected("a limit order needs base_qty and limit_price", broker=self.name)
            answer = self._call(
                "create order", self.client.limit_order_gtc,
                client_order_id=request.client_order_id, product_id=market.exchange_symbol, side=side,
                base_size=plain(request.base_qty, market.base_decimals),
                limit_price=plain(to_decimal(repr(request.limit_price)), market.price_decimals),
            )
        elif request.quote_notional is not None:
            answer = self._call(
                "create order", self.client.market_order, client_order_id=request.client_order_id,
                product_id=market.exchange_symbol, side=side,
                quote_size=plain(request.quote_notional, market.quote_decimals),
            )
        else:
            answer = self._call(
                "create order", self.client.market_order, client_order_id=request.client_order_id,
                product_id=market.exchange_symbol, side=side,
                base_size=plain(request.base_qty or ZERO, market.base_decimals),
            )
        if not _field(answer, "success", False):
            error = _field(answer, "error_response", {}) or {}
            reason = " ".join(
                str(part) for part in (_field(error, "error"), _field(error, "preview_failure_reason"),
                                       _field(error, "message")) if part
            )
            raise OrderRejected(reason or "coinbase refused the order", broker=self.name, raw=error)
        order_id = _field(_field(answer, "success_response", {}) or {}, "order_id") or _field(answer, "order_id")
        found = self._call("get order", self.client.get_order, order_id)
        return self._result(_field(found, "order"), request.symbol)

    def _result(self, order: Any, symbol: str | None = None) -> OrderResult:
        """An order (GetOrder / ListOrders) with its amounts exact: filled_size (base, gross), filled_value
        (quote, fees excluded), total_fees (quote), average_filled_price."""
        status_text = str(_field(order, "status", "")).upper()
        filled = to_decimal(_field(order, "filled_size"))
        if status_text == "FILLED":
            status = OrderStatus.FILLED
        elif status_text in _OPEN_STATES:
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
        elif status_text in ("CANCELLED", "EXPIRED"):
            status = OrderStatus.CANCELED
        elif status_text == "FAILED":
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.OPEN
        product_id = _field(order, "product_id", "")
        return OrderResult(
            client_order_id=_field(order, "client_order_id", ""),
            symbol=symbol or product_id,
            side=Side.BUY if str(_field(order, "side", "")).upper() == "BUY" else Side.SELL,
            status=status,
            exchange_order_id=_field(order, "order_id"),
            filled_base=filled,
            avg_price=to_decimal(_field(order, "average_filled_price")),
            filled_quote=to_decimal(_field(order, "filled_value")),
            fee_quote=to_decimal(_field(order, "total_fees")),
            reason=str(_field(order, "reject_message", "") or ""),
            time=_stamp(_field(order, "last_fill_time") or _field(order, "created_time")) or self.clock.now(),
        )

    def _iter_orders(self, **filters: Any) -> Iterable[Any]:
        cursor: str | None = None
        while True:
            page = self._call("list orders", self.client.list_orders, limit=PAGE_SIZE, cursor=cursor, **filters)
            yield from _field(page, "orders", []) or []
            cursor = _field(page, "cursor")
            if not _field(page, "has_next", False) or not cursor:
                return

    def _find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        product_id = self.market(symbol).exchange_symbol
        for order in self._iter_orders(product_ids=[product_id]):
            if _field(order, "client_order_id") == client_order_id:
                return self._result(order, symbol)
        return None

    def open_orders(self) -> list[OrderResult]:
        by_product = {m.exchange_symbol: s for s, m in self.markets().items()}
        return [
            self._result(o, by_product.get(_field(o, "product_id")))
            for o in self._iter_orders(order_status=["OPEN"])
        ]

    def cancel_order(self, order: OrderResult) -> None:
        if not order.exchange_order_id:
            found = self._find_order(order.client_order_id, order.symbol)
            if found is None or not found.exchange_order_id:
                raise OrderRejected(f"order {order.client_order_id} not found on coinbase", broker=self.name)
            order = found
        answer = self._call("cancel", self.client.cancel_orders, order_ids=[order.exchange_order_id])
        results = _field(answer, "results", []) or []
        if not results or not _field(results[0], "success", False):
            reason = _field(results[0], "failure_reason", "unknown") if results else "no result"
            raise OrderRejected(f"coinbase did not cancel {order.exchange_order_id}: {reason}", broker=self.name)

    def server_time(self) -> float:
        answer = self._call("time", self.client.get_unix_time)
        return float(_field(answer, "epoch_seconds"))  # the SDK renames epochSeconds

    def close(self) -> None:
        self.client.session.close()
