"""Coinbase Advanced Trade's REST protocol (/api/v3/brokerage) over the shared matching core.

What the real exchange does and this face copies: HTTPS only; every private request carries an
ES256 JWT (header kid = key name, claims sub/iss/nbf/exp/uri with uri = "METHOD host:port/path")
checked against the key's public key; a refused order is HTTP 200 with ``success: false`` and an
``error_response``; a repeated client_order_id returns the order already made instead of a new one;
candles come newest first, at most 350 per request.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange, SimMarket, SimOrder, SimOrderError
from bot.sim.faces.base import Face, SimRequest, SimResponse, decimal_text
from bot.sim.tls import make_self_signed_cert, server_context, write_cert

API_PREFIX = "/api/v3/brokerage"
MAX_CANDLES = 350
GRANULARITY_MINUTES = {
    "ONE_MINUTE": 1,
    "FIVE_MINUTE": 5,
    "FIFTEEN_MINUTE": 15,
    "THIRTY_MINUTE": 30,
    "ONE_HOUR": 60,
    "TWO_HOUR": 120,
    "SIX_HOUR": 360,
    "ONE_DAY": 1440,
}
_ACCOUNT_NS = uuid.UUID("0d5f3c1e-7a35-4c0e-8d7f-2b9a6c1e4f10")

# neutral core code -> (error_response.error, preview_failure_reason, message)
_ORDER_ERRORS: dict[str, tuple[str, str, str]] = {
    "INSUFFICIENT_FUNDS": ("INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND", "Insufficient balance in source account"),
    "ORDER_MINIMUM": ("INVALID_REQUEST", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", "base size is below the minimum"),
    "COST_MINIMUM": ("INVALID_REQUEST", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", "quote size is below the minimum"),
    "PRECISION": ("INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION", "Too many decimals in order amount"),
    "UNKNOWN_MARKET": ("INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID", "Invalid product_id"),
    "INVALID_ARGUMENTS": ("INVALID_REQUEST", "UNKNOWN_PREVIEW_FAILURE_REASON", "Invalid order request"),
}
_FORCED_STATUS = {
    "RATE_LIMIT_EXCEEDED": 429, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "INTERNAL": 500, "UNAVAILABLE": 503,
}
_STATUS = {"open": "OPEN", "closed": "FILLED", "canceled": "CANCELLED"}


def _json(status: int, body: Any) -> SimResponse:
    return SimResponse.json(body, status)


class AuthFailure(Exception):
    """The JWT was missing, unsigned by a known key, expired or for another URI."""


def _num(value: float, decimals: int = 10) -> str:
    """Every amount as a decimal string without exponent (Coinbase sends strings)."""
    return decimal_text(value, decimals)


def _increment(decimals: int) -> str:
    return format(Decimal(1).scaleb(-decimals), "f")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, error: str, message: str) -> SimResponse:
    return _json(status, {"error": error, "error_details": message, "message": message})


class CoinbaseFace(Face):
    """Coinbase Advanced on TLS with a certificate made at start.

    `now_offset_seconds` shifts the face's idea of wall-clock time for JWT checks (the SDK stamps
    nbf/exp with time.time()), which is how a test makes the real SDK's JWT arrive expired.
    """

    name = "coinbase"
    tls = True

    def __init__(self, exchange: SimExchange) -> None:
        super().__init__(exchange)
        fees = [m.taker_fee for m in self.listed_markets().values()]
        makers = [m.maker_fee for m in self.listed_markets().values()]
        self.taker_fee_rate = fees[0] if fees else 0.006  # what the core charges: the fee tier it reports
        self.maker_fee_rate = makers[0] if makers else 0.004
        self.now_offset_seconds = 0.0
        self.cert_path: Path | None = None
        self._keys: dict[str, tuple[str, ec.EllipticCurvePublicKey]] = {}  # key name -> (account, public key)
        self._lock = threading.Lock()

    def ssl_context(self, workdir: Path) -> ssl.SSLContext | None:
        """With a state file, the certificate made the first time is kept: a restart serves the same one."""
        state = self.exchange.state
        saved = state.face_data(self.name) if state is not None else {}
        if "tls_cert" in saved and "tls_key" in saved:
            pair = write_cert(workdir / "coinbase", saved["tls_cert"].encode(), saved["tls_key"].encode())
        else:
            pair = make_self_signed_cert(workdir / "coinbase")
            if state is not None:
                state.save_face_data(self.name, [("tls_cert", pair.cert_path.read_text()),
                                                 ("tls_key", pair.key_path.read_text())])
        self.cert_path = pair.cert_path
        return server_context(pair)

    def client_settings(self) -> dict[str, str]:
        """The adapter must trust exactly this certificate (COINBASE_CA_BUNDLE)."""
        return {"COINBASE_CA_BUNDLE": str(self.cert_path)} if self.cert_path else {}

    # ---- credentials ---------------------------------------------------------------------
    def new_credentials(self, account_id: str) -> Credentials:
        """A new CDP key (name + PEM EC private key) for an account."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        name = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
        return Credentials(api_key=name, api_secret=pem, source=f"SIM_COINBASE_{account_id.upper()}")

    def install_credentials(self, account_id: str, credentials: Credentials) -> None:
        """The face checks JWTs with the public half of the key."""
        private_key = serialization.load_pem_private_key(credentials.api_secret.encode(), password=None)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        with self._lock:
            self._keys[credentials.api_key] = (account_id, private_key.public_key())
            self._issued[account_id] = credentials

    def authenticate(self, method: str, host: str, path: str, headers: Mapping[str, str]) -> str:
        """The account id the request's JWT proves, or AuthFailure with the reason."""
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.startswith("Bearer "):
            raise AuthFailure("missing bearer token")
        token = auth[len("Bearer "):]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"malformed token: {exc}") from exc
        with self._lock:
            known = self._keys.get(str(header.get("kid", "")))
        if known is None:
            raise AuthFailure("unknown key")
        account_id, public_key = known
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "nbf", "sub", "uri"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"bad signature: {exc}") from exc
        now = self.exchange.real_time() + self.now_offset_seconds
        if float(claims["exp"]) <= now:
            raise AuthFailure("token expired")
        if float(claims["nbf"]) > now + 5:
            raise AuthFailure("token not yet valid")
        if claims.get("sub") != header.get("kid") or claims.get("iss") != "cdp":
            raise AuthFailure("subject or issuer mismatch")
        if claims["uri"] != f"{method} {host}{path}":
            raise AuthFailure("uri claim does not match the request")
        return account_id

    # ---- dispatch ----------------------------------------------------------------------------
    @staticmethod
    def endpoint(method: str, parts: list[str]) -> str:
        """The operation name (Coinbase's own) that fault rules target, e.g. CreateOrder."""
        if method == "GET":
            if parts == ["time"]:
                return "GetServerTime"
            if parts == ["accounts"]:
                return "ListAccounts"
            if parts == ["products"]:
                return "ListProducts"
            if len(parts) == 2 and parts[0] == "products":
                return "GetProduct"
            if len(parts) == 3 and parts[0] == "products" and parts[2] == "candles":
                return "GetCandles"
            if parts == ["best_bid_ask"]:
                return "GetBestBidAsk"
            if parts == ["transaction_summary"]:
                return "GetTransactionSummary"
            if parts == ["orders", "historical", "batch"]:
                return "ListOrders"
            if len(parts) == 3 and parts[:2] == ["orders", "historical"]:
                return "GetOrder"
        if method == "POST":
            if parts == ["orders"]:
                return "CreateOrder"
            if parts == ["orders", "batch_cancel"]:
                return "CancelOrders"
        return ""

    def handle(self, request: SimRequest) -> SimResponse:
        """Route one request; faults: 5xx = 503 UNAVAILABLE; a forced error is answered as Coinbase would
        (RATE_LIMIT_EXCEEDED 429, UNAUTHENTICATED 401, PERMISSION_DENIED 403, INTERNAL 500, UNAVAILABLE 503; any
        other string is an order refusal on CreateOrder, a 400 elsewhere); drop / hang happen after executing."""
        if not request.path.startswith(API_PREFIX):
            return _error(404, "NOT_FOUND", "Not Found")
        parts = [p for p in request.path[len(API_PREFIX):].split("/") if p]
        endpoint = self.endpoint(request.method, parts)
        if not endpoint:
            return _error(404, "NOT_FOUND", "Not Found")
        fault = self.fault(endpoint)
        if fault.http_5xx:
            return _error(503, "UNAVAILABLE", "service unavailable")
        if fault.error:
            status = _FORCED_STATUS.get(fault.error)
            if status is None and endpoint == "CreateOrder":
                return self._failure(fault.error, "UNKNOWN_PREVIEW_FAILURE_REASON", fault.error)
            return _error(status or 400, fault.error, fault.error)
        response = self._route(endpoint, request, parts)
        response.drop = fault.drop_after_execute
        response.hang_seconds = fault.hang_seconds
        return response

    def _route(self, endpoint: str, request: SimRequest, parts: list[str]) -> SimResponse:
        if endpoint == "GetServerTime":
            return self._time()
        try:
            account = self.authenticate(request.method, request.host, request.path, request.headers)
        except AuthFailure as failure:
            return _json(401, {"error": "UNAUTHENTICATED", "error_details": str(failure), "message": "Unauthorized"})
        try:
            payload = json.loads(request.body) if request.body else {}
        except json.JSONDecodeError:
            return _error(400, "INVALID_ARGUMENT", "request body is not JSON")
        query = request.query
        handlers = {
            "ListAccounts": lambda: self._accounts(account),
            "ListProducts": lambda: self._products(query),
            "GetProduct": lambda: self._product(parts[1]),
            "GetCandles": lambda: self._candles(parts[1], query),
            "GetBestBidAsk": lambda: self._best_bid_ask(query),
            "GetTransactionSummary": self._transaction_summary,
            "ListOrders": lambda: self._list_orders(account, query),
            "GetOrder": lambda: self._get_order(account, parts[2]),
            "CreateOrder": lambda: self.create_order(account, payload),
            "CancelOrders": lambda: self._cancel(account, payload),
        }
        return handlers[endpoint]()

    # ---- public --------------------------------------------------------------------------------
    def _time(self) -> SimResponse:
        now = self.exchange.clock.now()
        return _json(200, {"iso": _iso(now), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))})

    # ---- accounts ------------------------------------------------------------------------------
    def _accounts(self, account: str) -> SimResponse:
        rows = []
        for asset, balance in sorted(self.exchange.balances(account).items()):
            available = max(balance.total - balance.hold, 0.0)
            rows.append({
                "uuid": str(uuid.uuid5(_ACCOUNT_NS, f"{account}/{asset}")),
                "name": f"{asset} Wallet",
                "currency": asset,
                "available_balance": {"value": _num(available), "currency": asset},
                "default": True,
                "active": True,
                "created_at": _iso(0),
                "updated_at": _iso(self.exchange.clock.now()),
                "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if asset in ("USD", "EUR") else "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": _num(balance.hold), "currency": asset},
                "retail_portfolio_id": str(uuid.uuid5(_ACCOUNT_NS, account)),
                "platform": "ACCOUNT_PLATFORM_CONSUMER",
            })
        return _json(200, {"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)})

    # ---- products --------------------------------------------------------------------------------
    def _product_json(self, market: SimMarket) -> dict[str, Any]:
        ticker = self.exchange.ticker(market.symbol)
        last = float(ticker.last)
        return {
            "product_id": market.symbol,
            "price": _num(last, market.price_decimals),
            "price_percentage_change_24h": "0",
            "volume_24h": _num(ticker.volume_24h, market.base_decimals),
            "volume_percentage_change_24h": "0",
            "base_increment": _increment(market.base_decimals),
            "quote_increment": "0.01",  # USD amounts in cents, as Coinbase lists its USD pairs (prices keep their tick)
            "quote_min_size": _num(market.min_notional),
            "quote_max_size": "50000000",
            "base_min_size": _num(market.min_base_qty),
            "base_max_size": "100000000",
            "base_name": market.base,
            "quote_name": market.quote,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": market.quote,
            "base_currency_id": market.base,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": market.base,
            "quote_display_symbol": market.quote,
            "view_only": False,
            "price_increment": _increment(market.price_decimals),
            "display_name": f"{market.base}-{market.quote}",
            "product_venue": "CBE",
            "approximate_quote_24h_volume": _num(last * ticker.volume_24h, 2),
        }

    def _products(self, query: Mapping[str, list[str]]) -> SimResponse:
        markets = self.listed_markets()
        wanted = query.get("product_ids") or sorted(markets)
        rows = [self._product_json(markets[s]) for s in wanted if s in markets]
        return _json(200, {"products": rows, "num_products": len(rows)})

    def _product(self, product_id: str) -> SimResponse:
        market = self.listed_markets().get(product_id)
        if market is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        return _json(200, self._product_json(market))

    def _best_bid_ask(self, query: Mapping[str, list[str]]) -> SimResponse:
        markets = self.listed_markets()
        books = []
        for symbol in query.get("product_ids") or sorted(markets):
            if symbol not in markets:
                continue
            ticker = self.exchange.ticker(symbol)
            decimals = markets[symbol].price_decimals
            books.append({
                "product_id": symbol,
                "bids": [{"price": _num(float(ticker.bid), decimals), "size": "1"}],
                "asks": [{"price": _num(float(ticker.ask), decimals), "size": "1"}],
                "time": _iso(ticker.time or self.exchange.clock.now()),
            })
        return _json(200, {"pricebooks": books})

    def _transaction_summary(self) -> SimResponse:
        return _json(200, {
            "total_volume": 0,
            "total_fees": 0,
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "usd_from": "0",
                "usd_to": "1000",
                "taker_fee_rate": _num(self.taker_fee_rate),
                "maker_fee_rate": _num(self.maker_fee_rate),
            },
            "advanced_trade_only_volume": 0,
            "advanced_trade_only_fees": 0,
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
        })

    def _candles(self, product_id: str, query: Mapping[str, list[str]]) -> SimResponse:
        if product_id not in self.listed_markets():
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        granularity = (query.get("granularity") or ["ONE_MINUTE"])[0]
        minutes = GRANULARITY_MINUTES.get(granularity)
        if minutes is None:
            return _error(400, "INVALID_ARGUMENT", f"granularity {granularity} is not valid")
        try:
            start = int((query.get("start") or ["0"])[0])
            end = int((query.get("end") or ["0"])[0])
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "start and end must be unix seconds")
        step = minutes * 60
        count = (end - start) // step + 1
        if end <= start or count > MAX_CANDLES + 1:
            return _error(400, "INVALID_ARGUMENT", "number of candles requested should be less than 350")
        # Candles starting in [start, end], each as complete as it is now (the open one included, as Coinbase
        # does): ask the core as of the end of the last one (one candle more, which the filter drops).
        last_start = end // step * step
        as_of = min(self.exchange.clock.now(), last_start + step)
        rows = self.exchange.candles(product_id, minutes, count + 1, end_time=as_of)
        candles = [
            {"start": str(int(t)), "low": _num(lo), "high": _num(hi), "open": _num(op), "close": _num(cl),
             "volume": _num(vol)}
            for (t, op, hi, lo, cl, vol) in rows
            if start <= t <= end
        ]
        candles.reverse()  # Coinbase answers newest first
        return _json(200, {"candles": candles[:MAX_CANDLES]})

    # ---- orders ----------------------------------------------------------------------------------
    def order_json(self, order: SimOrder) -> dict[str, Any]:
        market = self.exchange.markets().get(order.symbol)
        decimals = market.base_decimals if market else 8
        config: dict[str, Any]
        if order.order_type == "limit":
            config = {"limit_limit_gtc": {"base_size": _num(order.base_qty or 0.0, decimals),
                                          "limit_price": _num(order.limit_price or 0.0), "post_only": False}}
        elif order.quote_notional is not None:
            config = {"market_market_ioc": {"quote_size": _num(order.quote_notional, 2)}}
        else:
            config = {"market_market_ioc": {"base_size": _num(order.base_qty or 0.0, decimals)}}
        requested = order.base_qty or 0.0
        completion = 100.0 if order.status == "closed" else (
            100.0 * order.filled_base / requested if requested else 0.0
        )
        return {
            "order_id": order.order_id,
            "product_id": order.symbol,
            "user_id": str(uuid.uuid5(_ACCOUNT_NS, order.account_id)),
            "order_configuration": config,
            "side": order.side.upper(),
            "client_order_id": order.client_order_id or "",
            "status": _STATUS.get(order.status, "UNKNOWN_ORDER_STATUS"),
            "time_in_force": "IMMEDIATE_OR_CANCEL" if order.order_type == "market" else "GOOD_UNTIL_CANCELLED",
            "created_time": _iso(order.created_at),
            "completion_percentage": _num(completion, 2),
            "filled_size": _num(order.filled_base, decimals),
            "average_filled_price": _num(order.avg_price),
            "fee": "",
            "number_of_fills": str(order.fills),
            "filled_value": _num(order.cost),
            "pending_cancel": False,
            "size_in_quote": order.quote_notional is not None,
            "total_fees": _num(order.fee),
            "size_inclusive_of_fees": order.quote_notional is not None and order.side == "buy",  # quote_size has it
            "total_value_after_fees": _num(order.cost + order.fee if order.side == "buy" else order.cost - order.fee),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": order.order_type.upper(),
            "reject_reason": "",
            "settled": order.status == "closed",
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": _num(order.hold_amount),
            "is_liquidation": False,
            "last_fill_time": _iso(order.closed_at) if order.closed_at else None,
        }

    def _order_config(self, payload: Mapping[str, Any]) -> dict[str, Any] | str:
        """Keyword arguments for the core's place_order, or the reason the configuration is invalid."""
        config = payload.get("order_configuration") or {}
        try:
            if "market_market_ioc" in config:
                market = config["market_market_ioc"]
                if "quote_size" in market:
                    return {"order_type": "market", "quote_notional": float(market["quote_size"])}
                return {"order_type": "market", "base_qty": float(market["base_size"])}
            for name in ("limit_limit_gtc", "sor_limit_ioc", "limit_limit_fok"):
                if name in config:
                    limit = config[name]
                    return {"order_type": "limit", "base_qty": float(limit["base_size"]),
                            "limit_price": float(limit["limit_price"])}
        except (KeyError, TypeError, ValueError):
            return "order_configuration is missing a valid size"
        return "UNSUPPORTED_ORDER_CONFIGURATION"

    def _failure(self, error: str, preview: str, message: str) -> SimResponse:
        return _json(200, {
            "success": False,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": "",
            "error_response": {"error": error, "message": message, "error_details": message,
                               "preview_failure_reason": preview},
        })

    def _success(self, order: SimOrder, payload: Mapping[str, Any]) -> SimResponse:
        return _json(200, {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": order.order_id,
            "success_response": {
                "order_id": order.order_id,
                "product_id": order.symbol,
                "side": order.side.upper(),
                "client_order_id": order.client_order_id or "",
            },
            "order_configuration": payload.get("order_configuration", {}),
        })

    def create_order(self, account: str, payload: Mapping[str, Any]) -> SimResponse:
        client_order_id = str(payload.get("client_order_id") or "")
        side = str(payload.get("side", "")).lower()
        product_id = str(payload.get("product_id", ""))
        if not client_order_id:
            return self._failure("INVALID_REQUEST", "UNKNOWN_PREVIEW_FAILURE_REASON", "client_order_id is required")
        if side not in ("buy", "sell"):
            return self._failure("INVALID_SIDE", "UNKNOWN_PREVIEW_FAILURE_REASON", "side must be BUY or SELL")
        if product_id not in self.listed_markets():
            return self._failure(*_ORDER_ERRORS["UNKNOWN_MARKET"])
        config = self._order_config(payload)
        if isinstance(config, str):
            return self._failure("UNSUPPORTED_ORDER_CONFIGURATION", "UNKNOWN_PREVIEW_FAILURE_REASON", config)
        try:
            # Coinbase: a repeated client_order_id makes no new order; the existing one is returned.
            order = self.exchange.place_order(
                account, product_id, side, client_order_id=client_order_id, client_id_scope="all",
                timing=self.market_order_timing() if config["order_type"] == "market" else None, **config
            )
        except SimOrderError as refused:
            if refused.code == "DUPLICATE_CLIENT_ID":
                existing = self.exchange.order_by_client_id(account, client_order_id)
                if existing is not None:
                    return self._success(existing, payload)
            error, preview, message = _ORDER_ERRORS.get(refused.code, _ORDER_ERRORS["INVALID_ARGUMENTS"])
            return self._failure(error, preview, f"{message}: {refused.message}")
        return self._success(order, payload)

    def _get_order(self, account: str, order_id: str) -> SimResponse:
        order = self.exchange.order(account, order_id)
        if order is None:
            return _error(404, "NOT_FOUND", "order with this orderID was not found")
        return _json(200, {"order": self.order_json(order)})

    def _list_orders(self, account: str, query: Mapping[str, list[str]]) -> SimResponse:
        orders = list(self.exchange.orders(account))
        if query.get("order_ids"):
            ids = set(query["order_ids"])
            orders = [o for o in orders if o.order_id in ids]
        if query.get("product_ids"):
            products = set(query["product_ids"])
            orders = [o for o in orders if o.symbol in products]
        statuses = {s.upper() for s in query.get("order_status", [])}
        if statuses:
            orders = [o for o in orders if _STATUS.get(o.status) in statuses]
        if query.get("start_date"):
            start = datetime.fromisoformat(query["start_date"][0].replace("Z", "+00:00")).timestamp()
            orders = [o for o in orders if o.created_at >= start]
        orders.sort(key=lambda o: o.created_at, reverse=True)  # newest first, like Coinbase
        offset = int((query.get("cursor") or ["0"])[0] or 0)
        limit = int((query.get("limit") or ["100"])[0])
        page = orders[offset:offset + limit]
        has_next = offset + limit < len(orders)
        return _json(200, {
            "orders": [self.order_json(o) for o in page],
            "sequence": "0",
            "has_next": has_next,
            "cursor": str(offset + limit) if has_next else "",
        })

    def _cancel(self, account: str, payload: Mapping[str, Any]) -> SimResponse:
        results = []
        for order_id in payload.get("order_ids") or []:
            order = self.exchange.order(account, order_id)
            if order is None:
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": order_id})
                continue
            if order.status != "open":
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                                "order_id": order_id})
                continue
            self.exchange.cancel(account, order_id)
            results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id})
        return _json(200, {"results": results})
