"""Kraken's REST protocol (https://docs.kraken.com/api/) over the simulator's matching core.

Public: Time, SystemStatus, Assets, AssetPairs, Ticker, OHLC. Private: Balance, BalanceEx,
TradeBalance, OpenOrders, ClosedOrders, QueryOrders, AddOrder, CancelOrder, TradesHistory.
Every private call is checked as Kraken does, in Kraken's order: API-Key known, API-Sign (HMAC-SHA512
over path + SHA256(nonce + raw body)) valid, nonce strictly above the key's last, rate counter
(tiers of EXCHANGES.md) not exceeded; each failure is Kraken's error string in an HTTP 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange, SimMarket, SimOrder, SimOrderError, SimTrade
from bot.sim.faces.base import Face, SimRequest, SimResponse

# Assets that Kraken still names with the old X/Z prefix, and the altnames it shows for them.
LEGACY_CODES = {
    "BTC": "XXBT", "ETH": "XETH", "LTC": "XLTC", "XRP": "XXRP", "XLM": "XXLM", "DOGE": "XXDG", "ETC": "XETC",
    "XMR": "XXMR", "ZEC": "XZEC", "MLN": "XMLN", "REP": "XREP",
    "USD": "ZUSD", "EUR": "ZEUR", "GBP": "ZGBP", "CAD": "ZCAD", "JPY": "ZJPY",
}
ALTNAMES = {"BTC": "XBT", "DOGE": "XDG"}
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
RATE_TIERS = {"Starter": (15.0, 0.33), "Intermediate": (20.0, 0.5), "Pro": (20.0, 1.0)}
COSTLY_CALLS = {"Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2}
UNCOUNTED_CALLS = {"AddOrder", "CancelOrder", "AddOrderBatch", "EditOrder", "CancelAll"}
ERRORS = {
    "INSUFFICIENT_FUNDS": "EOrder:Insufficient funds",
    "ORDER_MINIMUM": "EOrder:Order minimum not met",
    "COST_MINIMUM": "EOrder:Cost minimum not met",
    "UNKNOWN_MARKET": "EQuery:Unknown asset pair",
    "INVALID_ARGUMENTS": "EGeneral:Invalid arguments",
    "DUPLICATE_CLIENT_ID": "EOrder:Duplicate order",
    "UNKNOWN_ORDER": "EOrder:Unknown order",
    "UNKNOWN_ACCOUNT": "EAPI:Invalid key",
}
ORDER_FLAGS = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})  # AddOrder's documented oflags
_FEE_SCHEDULE = [0, 50_000, 100_000, 250_000, 500_000, 1_000_000]


def asset_code(asset: str) -> str:
    return LEGACY_CODES.get(asset, asset)


def asset_altname(asset: str) -> str:
    return ALTNAMES.get(asset, asset)


def pair_names(base: str, quote: str) -> tuple[str, str, str]:
    """(canonical, altname, wsname): XXBTZUSD / XBTUSD / XBT/USD; SOLUSD / SOLUSD / SOL/USD."""
    alt = asset_altname(base) + asset_altname(quote)
    canonical = asset_code(base) + asset_code(quote) if base in LEGACY_CODES and base != "DOGE" else alt
    return canonical, alt, f"{asset_altname(base)}/{asset_altname(quote)}"


def _txid(uid: str, prefix: str) -> str:
    raw = base64.b32encode(bytes.fromhex(uid.replace("-", ""))).decode()
    return f"{prefix}{raw[:5]}-{raw[5:10]}-{raw[10:16]}"


def _num(value: float, decimals: int) -> str:
    return f"{value:.{max(decimals, 0)}f}"


class KrakenError(Exception):
    """Answered as {"error": [message]} in an HTTP 200."""


@dataclass
class _Key:
    account_id: str
    secret: bytes
    counter_max: float
    decay: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_nonce: int = 0
    counter: float = 0.0
    stamp_sim: float = 0.0
    stamp_real: float = 0.0
    calls: int = 0


class KrakenFace(Face):
    name = "kraken"
    tls = False

    def __init__(self, exchange: SimExchange) -> None:
        super().__init__(exchange)
        self._keys: dict[str, _Key] = {}
        self._keys_lock = threading.Lock()
        self._orders: dict[str, tuple[str, str]] = {}  # txid -> (account, order id)
        self._txids: dict[str, str] = {}  # order id -> txid
        self._userrefs: dict[str, int] = {}  # order id -> userref
        self._state_lock = threading.Lock()
        self._pairs: dict[str, SimMarket] = {}  # canonical, altname and wsname -> market
        self._names: dict[str, tuple[str, str, str]] = {}  # symbol -> names
        for symbol, market in self.listed_markets().items():
            names = pair_names(market.base, market.quote)
            self._names[symbol] = names
            for name in names:
                self._pairs[name] = market
        self.rejected: dict[str, int] = {}  # Kraken error string -> count (tests and benchmarks read it)
        self._public = {
            "Time": self._time, "SystemStatus": self._status, "Assets": self._assets,
            "AssetPairs": self._asset_pairs, "Ticker": self._ticker, "OHLC": self._ohlc,
        }
        self._private = {
            "Balance": self._balance, "BalanceEx": self._balance_ex, "TradeBalance": self._trade_balance,
            "OpenOrders": self._open_orders, "ClosedOrders": self._closed_orders, "QueryOrders": self._query_orders,
            "AddOrder": self._add_order, "CancelOrder": self._cancel_order, "TradesHistory": self._trades_history,
        }

    # ---- credentials ------------------------------------------------------------------------------
    def new_credentials(self, account_id: str) -> Credentials:
        api_key = base64.b64encode(secrets.token_bytes(42)).decode()
        secret = base64.b64encode(secrets.token_bytes(64)).decode()
        return Credentials(api_key=api_key, api_secret=secret, source=f"SIM_{account_id}")

    def install_credentials(self, account_id: str, credentials: Credentials) -> None:
        counter_max, decay = RATE_TIERS[self.exchange.settings.sim_kraken_rate_tier]
        with self._keys_lock:
            self._keys[credentials.api_key] = _Key(
                account_id, base64.b64decode(credentials.api_secret), counter_max, decay
            )
            self._issued[account_id] = credentials

    def restore(self) -> None:
        """Credentials, each key's last nonce (a reloaded exchange refuses what it already saw), userrefs, txids."""
        super().restore()
        state = self.exchange.state
        if state is None:
            return
        for api_key, nonce in state.nonces().items():
            if api_key in self._keys:
                self._keys[api_key].last_nonce = nonce
        with self._state_lock:
            for key, value in state.face_data(self.name).items():
                kind, _, order_id = key.partition(":")
                if kind == "userref":
                    self._userrefs[order_id] = int(value)
        for account_id in self.exchange.accounts():
            for order in self.exchange.orders(account_id):
                self._txid_of(order)

    def set_rate_limit(self, api_key: str, counter_max: float, decay_per_second: float) -> None:
        """Give one key other counter limits (tests of the adapter's limiter, throughput benchmarks)."""
        key = self._keys[api_key]
        with key.lock:
            key.counter_max, key.decay = counter_max, decay_per_second

    def last_nonce(self, api_key: str) -> int:
        return self._keys[api_key].last_nonce

    # ---- dispatch ---------------------------------------------------------------------------------
    def handle(self, request: SimRequest) -> SimResponse:
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "0" or parts[1] not in ("public", "private"):
            return SimResponse.json({"error": ["EGeneral:Unknown method"]}, 404)
        kind, method = parts[1], parts[2]
        table = self._public if kind == "public" else self._private
        handler = table.get(method)
        if handler is None:
            return self._answer(error="EGeneral:Unknown method")
        fault = self.fault(method)
        if fault.http_5xx:
            return SimResponse(status=503, body=b"<html><body>503 Service Unavailable</body></html>",
                               content_type="text/html")
        if fault.error:
            return self._answer(error=fault.error)
        try:
            if kind == "public":
                params = {k: v[-1] for k, v in request.query.items()} if request.method == "GET" else request.form()
                result = handler(params)
            else:
                if request.method != "POST":
                    raise KrakenError("EGeneral:Invalid arguments")
                account_id, params = self._authenticate(request, method)
                result = handler(account_id, params)
        except KrakenError as error:
            response = self._answer(error=str(error))
        else:
            response = self._answer(result=result)
        response.drop = fault.drop_after_execute
        response.hang_seconds = fault.hang_seconds
        return response

    def _answer(self, *, result: Any = None, error: str | None = None) -> SimResponse:
        if error is not None:
            with self._state_lock:
                self.rejected[error] = self.rejected.get(error, 0) + 1
            payload: dict[str, Any] = {"error": [error]}
        else:
            payload = {"error": [], "result": result}
        return SimResponse(body=json.dumps(payload, separators=(",", ":")).encode())

    def _authenticate(self, request: SimRequest, method: str) -> tuple[str, dict[str, str]]:
        api_key = request.header("API-Key")
        key = self._keys.get(api_key) if api_key else None
        if key is None:
            raise KrakenError("EAPI:Invalid key")
        params = request.form()
        nonce_text = params.get("nonce", "")
        try:
            sent = base64.b64decode(request.header("API-Sign"), validate=True)
        except ValueError:
            raise KrakenError("EAPI:Invalid signature") from None
        message = request.path.encode() + hashlib.sha256(nonce_text.encode() + request.body).digest()
        if not hmac.compare_digest(hmac.new(key.secret, message, hashlib.sha512).digest(), sent):
            raise KrakenError("EAPI:Invalid signature")
        if not nonce_text.isdigit() or len(nonce_text) > 20:
            raise KrakenError("EAPI:Invalid nonce")
        nonce = int(nonce_text)
        cost = 0 if method in UNCOUNTED_CALLS else COSTLY_CALLS.get(method, 1)
        with key.lock:
            if nonce <= key.last_nonce or nonce >= 2**64:
                raise KrakenError("EAPI:Invalid nonce")
            key.last_nonce = nonce
            if self.exchange.state is not None:  # saved before anything is answered: a restart refuses it too
                self.exchange.state.save_nonce(api_key, nonce)
            if cost:
                self._decay(key)
                if key.counter + cost > key.counter_max:
                    raise KrakenError("EAPI:Rate limit exceeded")
                key.counter += cost
            key.calls += 1
        return key.account_id, params

    def _decay(self, key: _Key) -> None:
        """Drain the counter by the elapsed time: simulated or real, whichever ran further (see the adapter)."""
        now_sim, now_real = self.exchange.clock.now(), time.monotonic()
        if key.stamp_real:
            elapsed = max(now_sim - key.stamp_sim, now_real - key.stamp_real, 0.0)
            key.counter = max(0.0, key.counter - elapsed * key.decay)
        key.stamp_sim, key.stamp_real = now_sim, now_real

    # ---- helpers ------------------------------------------------------------------------------------
    def _market(self, pair: str) -> SimMarket:
        found = self._pairs.get(pair) or self._pairs.get(pair.upper())
        if found is None:
            raise KrakenError("EQuery:Unknown asset pair")
        return found

    def _pairs_param(self, params: dict[str, str], required: bool) -> list[SimMarket]:
        text = params.get("pair", "")
        if not text:
            if required:
                raise KrakenError("EGeneral:Invalid arguments")
            return list(self.listed_markets().values())
        return [self._market(name.strip()) for name in text.split(",") if name.strip()]

    # ---- public -------------------------------------------------------------------------------------
    def _time(self, params: dict[str, str]) -> dict[str, Any]:
        now = self.exchange.clock.now()
        return {"unixtime": int(now), "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))}

    def _status(self, params: dict[str, str]) -> dict[str, Any]:
        now = self.exchange.clock.now()
        return {"status": "online", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def _assets(self, params: dict[str, str]) -> dict[str, Any]:
        assets: dict[str, Any] = {}
        for market in self.listed_markets().values():
            for asset in (market.base, market.quote):
                decimals = 4 if asset == market.quote else 10
                assets[asset_code(asset)] = {
                    "aclass": "currency", "altname": asset_altname(asset), "decimals": decimals,
                    "display_decimals": min(decimals, 5), "status": "enabled",
                }
        return assets

    def _asset_pairs(self, params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for market in self._pairs_param(params, required=False):
            canonical, alt, ws = self._names[market.symbol]
            taker, maker = market.taker_fee * 100, market.maker_fee * 100
            out[canonical] = {
                "altname": alt, "wsname": ws, "aclass_base": "currency", "base": asset_code(market.base),
                "aclass_quote": "currency", "quote": asset_code(market.quote), "lot": "unit",
                "cost_decimals": 5, "pair_decimals": market.price_decimals, "lot_decimals": market.base_decimals,
                "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
                "fees": [[v, round(max(taker - 0.02 * i, 0.0), 4)] for i, v in enumerate(_FEE_SCHEDULE)],
                "fees_maker": [[v, round(max(maker - 0.02 * i, 0.0), 4)] for i, v in enumerate(_FEE_SCHEDULE)],
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": f"{market.min_base_qty:.10g}", "costmin": f"{market.min_notional:.10g}",
                "tick_size": _num(10.0 ** -market.price_decimals, market.price_decimals), "status": "online",
            }
        return out

    def _ticker(self, params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for market in self._pairs_param(params, required=False):
            t = self.exchange.ticker(market.symbol)
            d = market.price_decimals
            vol = _num(t.volume_24h, 8)
            vwap = _num((t.high_24h + t.low_24h + t.last) / 3.0, d)
            trades = max(1, int(t.volume_24h * t.last / 500.0))
            out[self._names[market.symbol][0]] = {
                "a": [_num(t.ask, d), "1", "1.000"], "b": [_num(t.bid, d), "1", "1.000"],
                "c": [_num(t.last, d), _num(market.min_base_qty, 8)], "v": [vol, vol], "p": [vwap, vwap],
                "t": [trades, trades], "l": [_num(t.low_24h, d)] * 2, "h": [_num(t.high_24h, d)] * 2,
                "o": _num(t.open_24h, d),
            }
        return out

    def _ohlc(self, params: dict[str, str]) -> dict[str, Any]:
        market = self._pairs_param(params, required=True)[0]
        try:
            interval = int(params.get("interval", "1"))
            since = float(params["since"]) if params.get("since") else None
        except ValueError:
            raise KrakenError("EGeneral:Invalid arguments") from None
        if interval not in OHLC_INTERVALS:
            raise KrakenError("EGeneral:Invalid arguments")
        now = self.exchange.clock.now()
        count = 720
        if since is not None:
            count = max(1, min(720, math.floor(now / (interval * 60)) - math.floor(since / (interval * 60)) + 1))
        rows = self.exchange.candles(market.symbol, interval, count, end_time=now)
        if since is not None:
            rows = [r for r in rows if r[0] > since] or rows[-1:]
        d = market.price_decimals
        out = [
            [t, _num(o, d), _num(h, d), _num(low, d), _num(c, d), _num((h + low + c) / 3.0, d), _num(v, 8),
             max(1, int(v * c / 500.0))]
            for t, o, h, low, c, v in rows
        ]
        last = rows[-2][0] if len(rows) > 1 else rows[-1][0]
        return {self._names[market.symbol][0]: out, "last": last}

    # ---- private: balances ------------------------------------------------------------------------
    def _balance(self, account_id: str, params: dict[str, str]) -> dict[str, str]:
        return {
            asset_code(asset): _num(b.total, 4 if asset in ("USD", "EUR") else 10)
            for asset, b in self.exchange.balances(account_id).items()
        }

    def _balance_ex(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        return {
            asset_code(asset): {"balance": _num(b.total, 10), "hold_trade": _num(b.hold, 10)}
            for asset, b in self.exchange.balances(account_id).items()
        }

    def _trade_balance(self, account_id: str, params: dict[str, str]) -> dict[str, str]:
        equity = 0.0
        for asset, b in self.exchange.balances(account_id).items():
            if asset == "USD":
                equity += b.total
            elif f"{asset}-USD" in self.listed_markets():
                equity += b.total * self.exchange.price(f"{asset}-USD")
        zero = "0.0000"
        eb = _num(equity, 4)
        return {"eb": eb, "tb": eb, "m": zero, "n": zero, "c": zero, "v": zero, "e": eb, "mf": eb, "uv": zero}

    # ---- private: orders ----------------------------------------------------------------------------
    def _txid_of(self, order: SimOrder) -> str:
        with self._state_lock:
            txid = self._txids.get(order.order_id)
            if txid is None:
                txid = _txid(order.order_id, "O")
                self._txids[order.order_id] = txid
                self._orders[txid] = (order.account_id, order.order_id)
            return txid

    def _order_json(self, order: SimOrder, with_trades: bool = False) -> dict[str, Any]:
        market = self.exchange.market(order.symbol)
        alt = self._names[order.symbol][1]
        lot, d = market.base_decimals, market.price_decimals
        volume = order.base_qty if order.base_qty is not None else order.filled_base
        price_text = _num(order.limit_price, d) if order.limit_price else "0"
        at = "market" if order.order_type == "market" else f"limit {price_text}"
        status = order.status
        data: dict[str, Any] = {
            "refid": None, "userref": self._userrefs.get(order.order_id), "status": status,
            "opentm": order.created_at, "starttm": 0, "expiretm": 0,
            "descr": {
                "pair": alt, "type": order.side, "ordertype": order.order_type, "price": price_text, "price2": "0",
                "leverage": "none", "order": f"{order.side} {_num(volume, lot)} {alt} @ {at}", "close": "",
            },
            "vol": _num(volume, lot), "vol_exec": _num(order.filled_base, lot), "cost": _num(order.cost, 5),
            "fee": _num(order.fee, 5), "price": _num(order.avg_price, d), "stopprice": "0.00000",
            "limitprice": "0.00000", "misc": "", "oflags": "fciq" if order.quote_notional is None else "fciq,viqc",
        }
        if order.client_order_id:
            data["cl_ord_id"] = order.client_order_id
        if order.closed_at is not None:
            data["closetm"] = order.closed_at
            data["reason"] = None if status == "closed" else "User requested"
        if with_trades and order.filled_base:
            data["trades"] = [_txid(t.trade_id, "T") for t in self.exchange.trades(order.account_id)
                              if t.order_id == order.order_id]
        return data

    def _filters(self, params: dict[str, str]) -> tuple[int | None, str | None]:
        userref = params.get("userref")
        try:
            return (int(userref) if userref else None), (params.get("cl_ord_id") or None)
        except ValueError:
            raise KrakenError("EGeneral:Invalid arguments:userref") from None

    def _matching(self, account_id: str, params: dict[str, str], statuses: tuple[str, ...]) -> list[SimOrder]:
        userref, cl_ord_id = self._filters(params)
        if cl_ord_id is not None:  # the index, not a scan: look-ups by client id are the hot path
            candidates = self.exchange.orders_by_client_id(account_id, cl_ord_id)
        else:
            candidates = self.exchange.orders(account_id)
        return [
            o for o in candidates
            if o.status in statuses and (userref is None or self._userrefs.get(o.order_id) == userref)
        ]

    def _open_orders(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        with_trades = params.get("trades", "false").lower() == "true"
        orders = self._matching(account_id, params, ("open",))
        return {"open": {self._txid_of(o): self._order_json(o, with_trades) for o in reversed(orders)}}

    def _closed_orders(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        with_trades = params.get("trades", "false").lower() == "true"
        orders = self._matching(account_id, params, ("closed", "canceled"))
        try:
            start = float(params["start"]) if params.get("start") else None
            end = float(params["end"]) if params.get("end") else None
            ofs = int(params.get("ofs") or 0)
        except ValueError:
            raise KrakenError("EGeneral:Invalid arguments") from None
        use_close = params.get("closetime", "both") == "close"
        selected = []
        for o in orders:
            stamp = (o.closed_at or o.created_at) if use_close else o.created_at
            if (start is None or stamp > start) and (end is None or stamp < end):
                selected.append(o)
        selected.sort(key=lambda o: o.closed_at or o.created_at, reverse=True)
        page = selected[ofs:ofs + 50]
        return {"closed": {self._txid_of(o): self._order_json(o, with_trades) for o in page}, "count": len(selected)}

    def _query_orders(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        txids = [t.strip() for t in params.get("txid", "").split(",") if t.strip()]
        if not txids or len(txids) > 50:
            raise KrakenError("EGeneral:Invalid arguments")
        with_trades = params.get("trades", "false").lower() == "true"
        out: dict[str, Any] = {}
        for txid in txids:
            owner = self._orders.get(txid)
            order = self.exchange.order(account_id, owner[1]) if owner and owner[0] == account_id else None
            if order is None:
                raise KrakenError("EOrder:Invalid order")
            out[txid] = self._order_json(order, with_trades)
        return out

    def _add_order(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        for required in ("pair", "type", "ordertype", "volume"):
            if not params.get(required):
                raise KrakenError(f"EGeneral:Invalid arguments:{required}")
        market = self._market(params["pair"])
        side, order_type = params["type"], params["ordertype"]
        if side not in ("buy", "sell"):
            raise KrakenError("EGeneral:Invalid arguments:type")
        if order_type not in ("market", "limit"):
            raise KrakenError("EGeneral:Invalid arguments:ordertype")
        oflags = {f.strip() for f in params.get("oflags", "").split(",") if f.strip()}
        if not oflags <= ORDER_FLAGS or {"fcib", "fciq"} <= oflags or ("post" in oflags and order_type != "limit"):
            raise KrakenError("EGeneral:Invalid arguments:oflags")
        cl_ord_id = params.get("cl_ord_id") or None
        userref_text = params.get("userref") or None
        if cl_ord_id and userref_text:
            raise KrakenError("EGeneral:Invalid arguments:cl_ord_id and userref are exclusive")
        if cl_ord_id and not (len(cl_ord_id) <= 18 or _is_uuid(cl_ord_id)):
            raise KrakenError("EGeneral:Invalid arguments:cl_ord_id")
        try:
            userref = int(userref_text) if userref_text else None
            volume = float(params["volume"])
            price = float(params["price"]) if params.get("price") else None
        except ValueError:
            raise KrakenError("EGeneral:Invalid arguments") from None
        if userref is not None and not -(2**31) <= userref < 2**31:
            raise KrakenError("EGeneral:Invalid arguments:userref")
        if order_type == "limit" and price is None:
            raise KrakenError("EGeneral:Invalid arguments:price")
        in_quote = "viqc" in oflags
        if in_quote and (order_type != "market" or side != "buy"):
            raise KrakenError("EGeneral:Invalid arguments:viqc")
        if not in_quote and _decimals(params["volume"]) > market.base_decimals:
            raise KrakenError("EGeneral:Invalid arguments:volume")
        if price is not None and _decimals(params["price"]) > market.price_decimals:
            raise KrakenError(
                f"EOrder:Invalid price:{self._names[market.symbol][1]} price can only be specified up to "
                f"{market.price_decimals} decimals."
            )
        alt = self._names[market.symbol][1]
        at = "market" if order_type == "market" else f"limit {params['price']}"
        descr = {"order": f"{side} {params['volume']} {alt} @ {at}"}
        if params.get("validate", "").lower() in ("true", "1"):
            return {"descr": descr}
        try:
            order = self.exchange.place_order(
                account_id, market.symbol, side, order_type,
                base_qty=None if in_quote else volume, quote_notional=volume if in_quote else None,
                limit_price=price if order_type == "limit" else None, client_order_id=cl_ord_id,
                client_id_scope="open", notional_includes_fee=False,  # viqc: the volume is the cost, the fee on top
                timing=self.market_order_timing() if order_type == "market" else None,
            )
        except SimOrderError as refused:
            raise KrakenError(ERRORS.get(refused.code, "EGeneral:Invalid arguments")) from None
        if userref is not None:
            with self._state_lock:
                self._userrefs[order.order_id] = userref
            if self.exchange.state is not None:
                self.exchange.state.save_face_data(self.name, [(f"userref:{order.order_id}", str(userref))])
        return {"descr": descr, "txid": [self._txid_of(order)]}

    def _cancel_order(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        target = params.get("txid") or params.get("cl_ord_id")
        if not target:
            raise KrakenError("EGeneral:Invalid arguments:txid")
        orders: list[SimOrder] = []
        owner = self._orders.get(target)
        if owner and owner[0] == account_id:
            found = self.exchange.order(account_id, owner[1])
            orders = [found] if found else []
        elif params.get("cl_ord_id"):
            orders = self.exchange.orders_by_client_id(account_id, target)
        open_orders = [o for o in orders if o.status == "open"]
        if not orders:
            raise KrakenError("EOrder:Unknown order")
        for order in open_orders:
            self.exchange.cancel(account_id, order.order_id)
        return {"count": len(open_orders)}

    def _trades_history(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        trades: list[SimTrade] = sorted(self.exchange.trades(account_id), key=lambda t: t.time, reverse=True)
        ofs = int(params.get("ofs") or 0)
        out: dict[str, Any] = {}
        for t in trades[ofs:ofs + 50]:
            market = self.exchange.market(t.symbol)
            txid = self._txids.get(t.order_id) or _txid(t.order_id, "O")
            out[_txid(t.trade_id, "T")] = {
                "ordertxid": txid, "postxid": "", "pair": self._names[t.symbol][0], "time": t.time,
                "type": t.side, "ordertype": t.order_type, "price": _num(t.price, market.price_decimals),
                "cost": _num(t.cost, 5), "fee": _num(t.fee, 5), "vol": _num(t.base_qty, market.base_decimals),
                "margin": "0.00000", "misc": "",
            }
        return {"trades": out, "count": len(trades)}


def _decimals(text: str) -> int:
    text = text.strip()
    if "e" in text.lower():
        text = f"{float(text):.12f}".rstrip("0")
    return len(text.split(".", 1)[1].rstrip("0")) if "." in text else 0


def _is_uuid(text: str) -> bool:
    parts = text.split("-")
    return len(text) == 36 and [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for c in "".join(parts)
    )
