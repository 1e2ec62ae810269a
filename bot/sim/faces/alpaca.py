"""Alpaca's trading (/v2) and market-data (/v1beta3 crypto, /v2 stocks) REST protocol over the matching core.

What the real API does and this face copies: plain key headers (APCA-API-KEY-ID and
APCA-API-SECRET-KEY) on every call; errors as ``{"code": int, "message": str}`` with the HTTP status
(401 unknown key, 403 ``{"message": "forbidden."}`` for a key whose secret does not match, 403
insufficient balance on an order, 404 not found, 422 invalid / duplicate client id);
crypto symbols ``BTC/USD`` (positions drop the slash: ``BTCUSD``); stocks by plain ticker with
NYSE regular hours 09:30-16:00 America/New_York on weekdays (holidays are not modelled), told by
``GET /v2/clock`` on the simulator's clock. Stock bars exist only for time the market traded (a bar
overlapping a regular session), so nights and weekends are gaps, as in real equity data.

Orders as Alpaca handles them: a market order is answered ``pending_new`` and fills a moment later
(``sim_alpaca_fill_delay_seconds`` of simulated time, or ``sim_fill_wall_cap_seconds`` of real time
when the simulated clock stands still); a large one (over ``sim_alpaca_partial_fill_above_usd``)
fills in two parts and reads ``partially_filled`` in between. A stock market order while the market
is closed is ``accepted`` and fills at the next open, at the opening price. Amounts (qty, notional)
are read exactly from strings or numbers: qty up to 9 decimals, notional up to 2. Crypto fees are
taken out of what the fill credits (the coin on a buy, the dollars on a sale), rounded to 9 decimals,
and never appear on the order: they are posted as ``CFEE`` account activities; stocks trade
commission-free. Crypto orders take time_in_force gtc or ioc; fractional and notional stock orders
take day only.
The stock markets are the core's markets of asset class "stock" (catalog.STOCKS, when the price
source was given them); the Kraken and Coinbase faces are not meant to offer them.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from bot.config.accounts import Credentials
from bot.sim.exchange import FeeModel, FillTiming, SimExchange, SimMarket, SimOrder, SimOrderError
from bot.sim.faces.base import Face, SimRequest, SimResponse, decimal_text

_NS = uuid.UUID("3e0a3e55-9a3c-4d8e-bb0d-0f4a8b1c7d21")
_NEW_YORK = ZoneInfo("America/New_York")
_OPEN = (9, 30)
_CLOSE = (16, 0)
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W)$")
_UNIT_MINUTES = {"Min": 1, "T": 1, "Hour": 60, "H": 60, "Day": 1440, "D": 1440, "Week": 10080, "W": 10080}
_FEE_DECIMALS = 9  # Alpaca quantities and amounts carry up to 9 decimals
_QTY_DECIMALS = 9
_NOTIONAL_DECIMALS = 2
_CRYPTO_TIF = frozenset({"gtc", "ioc"})
_STOCK_TIF = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
_MAX_BARS_PAGE = 10_000
_EXECUTE_THEN_504 = "504 after execute"
Query = Callable[..., str]  # q(name, default="") -> the first value of a query parameter

# neutral core code -> (HTTP status, Alpaca code, message)
_ORDER_ERRORS: dict[str, tuple[int, int, str]] = {
    "INSUFFICIENT_FUNDS": (403, 40310000, "insufficient balance"),
    "ORDER_MINIMUM": (422, 40010001, "qty must be >= minimum order size"),
    "COST_MINIMUM": (403, 40310000, "cost basis must be >= minimal amount of order"),
    "PRECISION": (422, 40010001, "qty has too many decimal places"),
    "UNKNOWN_MARKET": (422, 40010001, "asset not found"),
    "INVALID_ARGUMENTS": (422, 40010001, "invalid order request"),
    "DUPLICATE_CLIENT_ID": (422, 40010001, "client_order_id must be unique"),
}


def _json(status: int, body: Any) -> SimResponse:
    return SimResponse.json(body, status)


def _error(status: int, code: int, message: str) -> SimResponse:
    return _json(status, {"code": code, "message": message})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _num(value: float, decimals: int = 9) -> str:
    """Every amount as a decimal string without exponent (Alpaca sends strings)."""
    return decimal_text(value, decimals)


def _parse_time(text: str) -> float:
    """RFC 3339 (naive times are UTC, as Alpaca reads them)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def alpaca_symbol(market: SimMarket) -> str:
    """BTC-USD -> BTC/USD; a stock AAPL-USD -> AAPL."""
    if market.asset_class == "stock":
        return str(market.base)
    return f"{market.base}/{market.quote}"


class MarketHours:
    """NYSE regular session in New York time, on the exchange's clock (weekends closed, no holidays)."""

    @staticmethod
    def session(day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() >= 5:
            return None
        opens = datetime(day.year, day.month, day.day, *_OPEN, tzinfo=_NEW_YORK)
        closes = datetime(day.year, day.month, day.day, *_CLOSE, tzinfo=_NEW_YORK)
        return opens, closes

    def is_open(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, _NEW_YORK)
        hours = self.session(local.date())
        return hours is not None and hours[0] <= local < hours[1]

    def overlaps(self, start: float, end: float) -> bool:
        """Whether a regular session overlaps [start, end): only then does a stock bar exist."""
        day = datetime.fromtimestamp(start, _NEW_YORK).date()
        last = datetime.fromtimestamp(max(end - 1, start), _NEW_YORK).date()
        while day <= last:
            hours = self.session(day)
            if hours is not None and hours[0].timestamp() < end and hours[1].timestamp() > start:
                return True
            day += timedelta(days=1)
        return False

    def next_open_close(self, ts: float) -> tuple[datetime, datetime]:
        local = datetime.fromtimestamp(ts, _NEW_YORK)
        day = local.date()
        next_open: datetime | None = None
        next_close: datetime | None = None
        for offset in range(0, 10):
            hours = self.session(day + timedelta(days=offset))
            if hours is None:
                continue
            if next_open is None and hours[0] > local:
                next_open = hours[0]
            if next_close is None and hours[1] > local:
                next_close = hours[1]
            if next_open and next_close:
                break
        assert next_open is not None and next_close is not None
        return next_open, next_close


class AlpacaFace(Face):
    """Alpaca trading + market data on one plain-HTTP port (point ALPACA_API_URL and ALPACA_DATA_URL at it).

    Faults (endpoint names below, e.g. "submit_order"): 5xx = 500; a forced error "429" or "504" is
    answered with that status before executing (alpaca-py resends both by itself), "504 after execute"
    executes the order first (the SDK's resend then meets "client_order_id must be unique"); any other
    forced string is a 422 with it as message; drop / hang happen after executing.
    """

    asset_classes = frozenset({"crypto", "stock"})

    name = "alpaca"
    tls = False

    def __init__(self, exchange: SimExchange) -> None:
        super().__init__(exchange)
        self.partial_fill_above_usd = exchange.settings.sim_alpaca_partial_fill_above_usd  # tests may change it
        self.hours = MarketHours()
        self._keys: dict[str, tuple[str, str]] = {}  # key id -> (secret, account)
        self._order_ids: dict[str, str] = {}  # Alpaca order UUID -> core order id
        self._lock = threading.Lock()

    def client_settings(self) -> dict[str, str]:
        """Alpaca's order JSON carries no fee, so the adapter computes it at the account's fee tier (a setting):
        make that the rate this simulator charges. Stocks are commission-free, as on Alpaca."""
        fees = [m.taker_fee for m in self.exchange.markets().values() if m.asset_class == "crypto"]
        return {"ALPACA_CRYPTO_TAKER_FEE": repr(fees[0])} if fees else {}

    @staticmethod
    def lot_decimals(market: SimMarket) -> int:
        """Alpaca trades every crypto pair to 9 decimals (the precision of its fees, so a whole position can
        always be sold); stocks by the catalogue's share decimals."""
        return _QTY_DECIMALS if market.asset_class == "crypto" else market.base_decimals

    def fee_model(self, market: SimMarket) -> FeeModel:
        if market.asset_class == "stock":
            return FeeModel(taker=0.0, maker=0.0)
        return FeeModel(charged_in="received", base_decimals=_FEE_DECIMALS, quote_decimals=_FEE_DECIMALS)

    # ---- credentials --------------------------------------------------------------------------
    def new_credentials(self, account_id: str) -> Credentials:
        alphabet = string.ascii_uppercase + string.digits
        key = "PK" + "".join(secrets.choice(alphabet) for _ in range(18))
        secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
        return Credentials(api_key=key, api_secret=secret, source=f"SIM_ALPACA_{account_id.upper()}", paper=True)

    def install_credentials(self, account_id: str, credentials: Credentials) -> None:
        with self._lock:
            self._keys[credentials.api_key] = (credentials.api_secret, account_id)
            self._issued[account_id] = credentials

    def authenticate(self, headers: Mapping[str, str]) -> str | SimResponse:
        """The account the key headers prove, or the refusal: 401 for an unknown key, 403 for a wrong secret."""
        lowered = {k.lower(): v for k, v in headers.items()}
        key = lowered.get("apca-api-key-id", "")
        with self._lock:
            known = self._keys.get(key)
        if known is None:
            return _error(401, 40110000, "request is not authorized")
        if not secrets.compare_digest(known[0], lowered.get("apca-api-secret-key", "")):
            return _json(403, {"message": "forbidden."})
        return known[1]

    # ---- markets ---------------------------------------------------------------------------------
    def _by_alpaca_symbol(self) -> dict[str, SimMarket]:
        return {alpaca_symbol(m): m for m in self.exchange.markets().values()}

    def _find_market(self, symbol: str) -> SimMarket | None:
        table = self._by_alpaca_symbol()
        if symbol in table:
            return table[symbol]
        if "/" not in symbol:  # positions and some endpoints accept BTCUSD
            return next((m for s, m in table.items() if s.replace("/", "") == symbol), None)
        return None

    def market_open(self) -> bool:
        return self.hours.is_open(self.exchange.clock.now())

    # ---- dispatch --------------------------------------------------------------------------------
    @staticmethod
    def endpoint(method: str, parts: list[str]) -> str:
        """The operation name fault rules target (alpaca-py's method names)."""
        if parts[:3] == ["v1beta3", "crypto", "us"] and len(parts) == 4:
            return {"bars": "crypto_bars", "snapshots": "crypto_snapshots"}.get(parts[3], "")
        if parts[:2] == ["v2", "stocks"]:
            return {"bars": "stock_bars", "snapshots": "stock_snapshots"}.get("/".join(parts[2:]), "")
        rest = parts[1:] if parts[:1] == ["v2"] else []
        if not rest:
            return ""
        if method == "POST":
            return "submit_order" if rest == ["orders"] else ""
        if method == "DELETE":
            return "cancel_order" if rest[0] == "orders" else ""
        if rest == ["orders:by_client_order_id"]:
            return "get_order_by_client_id"
        if rest[:2] == ["account", "activities"]:
            return "get_account_activities"
        if rest[0] == "orders":
            return "get_orders" if len(rest) == 1 else "get_order_by_id"
        return {"account": "get_account", "clock": "get_clock", "calendar": "get_calendar", "assets": "get_assets",
                "positions": "get_positions"}.get(rest[0], "")

    def handle(self, request: SimRequest) -> SimResponse:
        parts = [p for p in request.path.split("/") if p]
        endpoint = self.endpoint(request.method, parts)
        fault = self.fault(endpoint or "unknown")
        if fault.http_5xx:
            return _error(500, 50010000, "internal server error")
        if fault.error and fault.error != _EXECUTE_THEN_504:
            if fault.error in ("429", "504"):
                return _error(int(fault.error), int(fault.error) * 100000,
                              "rate limit exceeded" if fault.error == "429" else "gateway timeout")
            return _error(422, 42210000, fault.error)
        try:
            payload = request.json() if request.body and request.method in ("POST", "PATCH", "PUT") else {}
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        response = self.route(request.method, request.path, request.query, request.headers, payload or {})
        if fault.error == _EXECUTE_THEN_504:
            return _error(504, 50400000, "gateway timeout")
        response.drop = fault.drop_after_execute
        response.hang_seconds = fault.hang_seconds
        return response

    def route(self, method: str, path: str, query: Mapping[str, list[str]],
              headers: Mapping[str, str], payload: Mapping[str, Any]) -> SimResponse:
        account = self.authenticate(headers)
        if isinstance(account, SimResponse):
            return account
        parts = [p for p in path.split("/") if p]

        def q(name: str, default: str = "") -> str:
            return (query.get(name) or [default])[0]

        if parts[:3] == ["v1beta3", "crypto", "us"] and len(parts) == 4 and method == "GET":
            if parts[3] == "bars":
                return self._bars(q, asset_class="crypto")
            if parts[3] == "snapshots":
                return _json(200, {"snapshots": self._snapshots(q("symbols").split(","))})
        if parts[:2] == ["v2", "stocks"] and method == "GET":
            if parts[2:] == ["bars"]:
                return self._bars(q, asset_class="stock")
            if parts[2:] == ["snapshots"]:
                return _json(200, self._snapshots(q("symbols").split(",")))
        if not parts or parts[0] != "v2":
            return _error(404, 40410000, "endpoint not found")
        rest = parts[1:]
        if method == "GET":
            if rest == ["account"]:
                return self._account(account)
            if rest == ["clock"]:
                return self._clock()
            if rest == ["calendar"]:
                return self._calendar(q)
            if rest == ["assets"]:
                return self._assets(q)
            if len(rest) == 2 and rest[0] == "assets":
                market = self._find_market(rest[1])
                if market is None:
                    return _error(404, 40410000, "asset not found")
                return _json(200, self._asset_json(market))
            if rest == ["positions"]:
                return _json(200, self._positions(account))
            if rest[:2] == ["account", "activities"] and len(rest) <= 3:
                wanted = rest[2] if len(rest) == 3 else q("activity_types")
                return _json(200, self._fee_activities(account) if "CFEE" in wanted.split(",") else [])
            if len(rest) == 2 and rest[0] == "positions":
                found = [p for p in self._positions(account) if p["symbol"] == rest[1].replace("/", "")]
                return _json(200, found[0]) if found else _error(404, 40410000, "position does not exist")
            if rest == ["orders"]:
                return self._list_orders(account, q)
            if rest == ["orders:by_client_order_id"]:
                order = self.exchange.order_by_client_id(account, q("client_order_id"))
                return _json(200, self.order_json(order)) if order else _error(404, 40410000, "order not found")
            if len(rest) == 2 and rest[0] == "orders":
                order = self.exchange.order(account, self._core_id(rest[1]))
                return _json(200, self.order_json(order)) if order else _error(404, 40410000, "order not found")
        if method == "POST" and rest == ["orders"]:
            return self.submit_order(account, payload)
        if method == "DELETE" and len(rest) == 2 and rest[0] == "orders":
            return self._cancel(account, rest[1])
        return _error(404, 40410000, "endpoint not found")

    # ---- account ---------------------------------------------------------------------------------
    def _account(self, account: str) -> SimResponse:
        balances = self.exchange.balances(account)
        cash = balances.get("USD")
        cash_total = cash.total if cash else 0.0
        cash_free = max(cash_total - cash.hold, 0.0) if cash else 0.0
        long_value = sum(float(p["market_value"]) for p in self._positions(account))
        return _json(200, {
            "id": str(uuid.uuid5(_NS, account)),
            "account_number": "PA" + str(uuid.uuid5(_NS, account).int)[:10],
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _num(cash_free),
            "regt_buying_power": _num(cash_free),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _num(cash_free),
            "cash": _num(cash_total),
            "accrued_fees": "0",
            "portfolio_value": _num(cash_total + long_value, 2),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": _iso(0),
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": _num(cash_total + long_value, 2),
            "last_equity": _num(cash_total + long_value, 2),
            "long_market_value": _num(long_value, 2),
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        })

    def _positions(self, account: str) -> list[dict[str, Any]]:
        markets = {(m.base, m.quote): m for m in self.exchange.markets().values()}
        rows = []
        for asset, balance in sorted(self.exchange.balances(account).items()):
            market = markets.get((asset, "USD"))
            if asset == "USD" or market is None or balance.total <= 0:
                continue
            price = float(self.exchange.ticker(market.symbol).last)
            qty = balance.total
            is_crypto = market.asset_class == "crypto"
            rows.append({
                "asset_id": str(uuid.uuid5(_NS, market.symbol)),
                "symbol": alpaca_symbol(market).replace("/", ""),
                "exchange": "CRYPTO" if is_crypto else "NASDAQ",
                "asset_class": "crypto" if is_crypto else "us_equity",
                "asset_marginable": False,
                "avg_entry_price": _num(price, 12),
                "qty": _num(qty),
                "side": "long",
                "market_value": _num(qty * price, 2),
                "cost_basis": _num(qty * price, 2),
                "unrealized_pl": "0",
                "unrealized_plpc": "0",
                "current_price": _num(price, 12),
                "qty_available": _num(max(qty - balance.hold, 0.0)),
            })
        return rows

    def _asset_json(self, market: SimMarket) -> dict[str, Any]:
        is_crypto = market.asset_class == "crypto"
        row: dict[str, Any] = {
            "id": str(uuid.uuid5(_NS, market.symbol)),
            "class": "crypto" if is_crypto else "us_equity",
            "exchange": "CRYPTO" if is_crypto else "NASDAQ",
            "symbol": alpaca_symbol(market),
            "name": f"{market.base} / {market.quote}" if is_crypto else market.base,
            "status": "active",
            "tradable": True,
            "marginable": False,
            "shortable": False,
            "easy_to_borrow": False,
            "fractionable": True,
            "attributes": [],
        }
        if is_crypto:
            row["min_order_size"] = _num(market.min_base_qty)
            row["min_trade_increment"] = _num(10.0 ** -self.lot_decimals(market))
            row["price_increment"] = _num(10.0 ** -market.price_decimals)
        return row

    def _assets(self, q: Query) -> SimResponse:
        wanted = q("asset_class")
        rows = [self._asset_json(m) for m in self.exchange.markets().values()]
        if wanted:
            rows = [r for r in rows if r["class"] == wanted]
        return _json(200, rows)

    # ---- clock -------------------------------------------------------------------------------------
    def _clock(self) -> SimResponse:
        now = self.exchange.clock.now()
        next_open, next_close = self.hours.next_open_close(now)
        return _json(200, {
            "timestamp": datetime.fromtimestamp(now, _NEW_YORK).isoformat(),
            "is_open": self.hours.is_open(now),
            "next_open": next_open.isoformat(),
            "next_close": next_close.isoformat(),
        })

    def _calendar(self, q: Query) -> SimResponse:
        today = datetime.fromtimestamp(self.exchange.clock.now(), _NEW_YORK).date()
        start = date.fromisoformat(q("start", today.isoformat())[:10])
        end = date.fromisoformat(q("end", (today + timedelta(days=30)).isoformat())[:10])
        rows = []
        day = start
        while day <= end and len(rows) < 400:
            if self.hours.session(day):
                rows.append({"date": day.isoformat(), "open": "09:30", "close": "16:00",
                             "session_open": "0400", "session_close": "2000", "settlement_date": day.isoformat()})
            day += timedelta(days=1)
        return _json(200, rows)

    # ---- market data ------------------------------------------------------------------------------
    def _bars(self, q: Query, *, asset_class: str) -> SimResponse:
        match = _TIMEFRAME.match(q("timeframe", "1Min"))
        if match is None:
            return _error(400, 40010001, "invalid timeframe")
        minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
        now = self.exchange.clock.now()
        try:
            start = _parse_time(q("start")) if q("start") else now - 86400
            end = _parse_time(q("end")) if q("end") else now
        except ValueError:
            return _error(400, 40010001, "invalid start or end")
        limit = min(int(q("limit", "1000") or 1000), _MAX_BARS_PAGE)
        offset = int(q("page_token", "0") or 0)
        step = minutes * 60
        out: dict[str, list[dict[str, Any]]] = {}
        next_token: str | None = None
        for symbol in [s for s in q("symbols").split(",") if s]:
            market = self._find_market(symbol)
            if market is None or (market.asset_class == "stock") != (asset_class == "stock"):
                continue
            # Bars starting in [start, end], each as complete as it is now (the open one included, as Alpaca
            # does): ask the core as of the end of the last one (one bar more, which the filter drops).
            last_start = int(min(end, now) // step) * step
            count = max(int((last_start - start) // step) + 2, 0)
            as_of = min(now, last_start + step)
            rows = self.exchange.candles(market.symbol, minutes, count, end_time=as_of) if count else []
            bars = [
                {"t": _iso(t), "o": op, "h": hi, "l": lo, "c": cl, "v": vol, "n": 1,
                 "vw": round((hi + lo + cl) / 3, 8)}
                for (t, op, hi, lo, cl, vol) in rows
                if start <= t <= end and (market.asset_class != "stock" or self.hours.overlaps(t, t + step))
            ]
            if q("sort", "asc") == "desc":
                bars.reverse()
            page = bars[offset:offset + limit]
            if offset + limit < len(bars):
                next_token = str(offset + limit)
            out[symbol] = page
        return _json(200, {"bars": out, "next_page_token": next_token})

    def _snapshots(self, symbols: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        now = _iso(self.exchange.clock.now())
        for symbol in [s for s in symbols if s]:
            market = self._find_market(symbol)
            if market is None:
                continue
            ticker = self.exchange.ticker(market.symbol)
            volume = ticker.volume_24h
            last = float(ticker.last)
            daily = {"t": now, "o": last, "h": last, "l": last, "c": last, "v": volume, "n": 1, "vw": last}
            out[symbol] = {
                "latestTrade": {"t": now, "p": last, "s": 1, "i": 1, "tks": "B"},
                "latestQuote": {"t": now, "bp": float(ticker.bid), "bs": 1, "ap": float(ticker.ask), "as": 1},
                "minuteBar": daily,
                "dailyBar": daily,
                "prevDailyBar": daily,
            }
        return out

    # ---- orders ----------------------------------------------------------------------------------
    def _alpaca_id(self, core_id: str) -> str:
        """Alpaca order ids are UUIDs; the core's may not be, so keep a two-way map."""
        alpaca_id = core_id if _is_uuid(core_id) else str(uuid.uuid5(_NS, core_id))
        with self._lock:
            self._order_ids[alpaca_id] = core_id
        return alpaca_id

    def _core_id(self, alpaca_id: str) -> str:
        with self._lock:
            return self._order_ids.get(alpaca_id, alpaca_id)

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        market = self.exchange.markets().get(order.symbol)
        is_crypto = market is None or market.asset_class == "crypto"
        updated = order.closed_at or order.created_at
        return {
            "id": self._alpaca_id(order.order_id),
            "client_order_id": order.client_order_id or "",
            "created_at": _iso(order.created_at),
            "updated_at": _iso(updated),
            "submitted_at": _iso(order.created_at),
            "filled_at": _iso(order.closed_at) if order.status == "closed" and order.closed_at else None,
            "expired_at": None,
            "canceled_at": _iso(updated) if order.status == "canceled" else None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(_NS, order.symbol)),
            "symbol": alpaca_symbol(market) if market else order.symbol,
            "asset_class": "crypto" if is_crypto else "us_equity",
            "notional": _num(order.quote_notional, 2) if order.quote_notional is not None else None,
            "qty": _num(order.base_qty) if order.base_qty is not None else None,
            "filled_qty": _num(order.filled_base),
            "filled_avg_price": _num(order.avg_price, 12) if order.filled_base else None,
            "order_class": "simple",
            "order_type": order.order_type,
            "type": order.order_type,
            "side": order.side,
            "time_in_force": order.time_in_force or ("gtc" if is_crypto else "day"),
            "limit_price": _num(order.limit_price, 12) if order.limit_price else None,
            "stop_price": None,
            "status": self.status_of(order),
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }

    def status_of(self, order: SimOrder) -> str:
        """Alpaca's status for a core order: pending_new until it executes (accepted while a stock market is
        closed), partially_filled between two executions, then filled; a resting limit order is new."""
        if order.status == "closed":
            return "filled"
        if order.status == "canceled":
            return "canceled"
        if order.filled_base > 0:
            return "partially_filled"
        if order.order_type == "limit":
            return "new"
        market = self.exchange.markets().get(order.symbol)
        if market is not None and market.asset_class == "stock" and not self.market_open():
            return "accepted"
        return "pending_new"

    def _timing(self, market: SimMarket, value: float) -> FillTiming | None:
        """When a market order accepted now executes: at the next open for a closed stock market (however long
        the simulated clock stands still), else after the venue's delay (none: in the answer); large orders in
        two parts."""
        now = self.exchange.clock.now()
        if market.asset_class == "stock" and not self.market_open():
            opens, _ = self.hours.next_open_close(now)
            return FillTiming(at=opens.timestamp())
        if self.fill_delay_seconds <= 0:
            return None
        steps = 2 if value > self.partial_fill_above_usd else 1
        return FillTiming(at=now + self.fill_delay_seconds, wall_cap_seconds=self.fill_wall_cap_seconds,
                          steps=steps, step_seconds=self.fill_delay_seconds)

    def submit_order(self, account: str, payload: Mapping[str, Any]) -> SimResponse:
        client_order_id = str(payload.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        market = self._find_market(str(payload.get("symbol", "")))
        if market is None:
            return _error(422, 40010001, f"asset {payload.get('symbol')!r} not found")
        side = str(payload.get("side", ""))
        order_type = str(payload.get("type", "market"))
        if side not in ("buy", "sell") or order_type not in ("market", "limit"):
            return _error(422, 40010001, "invalid side or order type")
        is_crypto = market.asset_class == "crypto"
        tif = str(payload.get("time_in_force", "")).lower()
        if tif not in (_CRYPTO_TIF if is_crypto else _STOCK_TIF):
            return _error(422, 40010001, f"invalid {'crypto ' if is_crypto else ''}time_in_force {tif!r}")
        try:
            qty = _amount(payload.get("qty"))
            notional = _amount(payload.get("notional"))
            limit_price = _amount(payload.get("limit_price"))
        except ValueError as bad:
            return _error(422, 40010001, str(bad))
        if (qty is None) == (notional is None):
            return _error(422, 40010001, "qty or notional is required" if qty is None
                          else "only one of qty or notional may be given")
        if qty is not None and -qty.as_tuple().exponent > _QTY_DECIMALS:  # type: ignore[operator]
            return _error(422, 40010001, f"qty must be limited to {_QTY_DECIMALS} decimal places")
        if notional is not None and -notional.as_tuple().exponent > _NOTIONAL_DECIMALS:  # type: ignore[operator]
            return _error(422, 40010001, "notional increment does not fulfill minimum pricing criteria")
        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        if not is_crypto and fractional and tif != "day":
            return _error(422, 40010001, "fractional orders must be DAY orders")
        if order_type == "limit" and (limit_price is None or qty is None):
            return _error(422, 40010001, "a limit order needs qty and limit_price")
        kwargs: dict[str, Any] = {"order_type": order_type, "client_order_id": client_order_id}
        if notional is not None:
            kwargs["quote_notional"] = float(notional)
        else:
            kwargs["base_qty"] = float(qty or 0)
        if order_type == "limit":
            kwargs["limit_price"] = float(limit_price or 0)
        else:
            value = float(notional) if notional is not None else float(qty or 0) * self.exchange.price(market.symbol)
            kwargs["timing"] = self._timing(market, value)
        try:
            order = self.exchange.place_order(account, market.symbol, side, client_id_scope="all",
                                              fees=self.fee_model(market), lot_decimals=self.lot_decimals(market),
                                              time_in_force=tif, **kwargs)
        except SimOrderError as refused:
            status, code, message = _ORDER_ERRORS.get(refused.code, _ORDER_ERRORS["INVALID_ARGUMENTS"])
            return _error(status, code, f"{message}: {refused.message}")
        return _json(200, self.order_json(order))

    def _fee_activities(self, account: str) -> list[dict[str, Any]]:
        """CFEE activities, one per crypto execution, in the shape of Alpaca's documented example (posted at once:
        Alpaca posts them at the end of the day, so an adapter cannot wait for them to book a fill)."""
        markets = self.exchange.markets()
        rows = []
        for trade in self.exchange.trades(account):
            market = markets.get(trade.symbol)
            if market is None or market.asset_class != "crypto" or not (trade.fee_base or trade.fee):
                continue
            stamp = datetime.fromtimestamp(trade.time, UTC)
            rows.append({
                "id": f"{stamp.strftime('%Y%m%d%H%M%S%f')[:17]}::{trade.trade_id}",
                "activity_type": "CFEE",
                "date": stamp.date().isoformat(),
                "net_amount": _num(-trade.fee) if trade.fee else "0",
                "description": "Coin Pair Transaction Fee (Non USD)" if trade.fee_base else "Coin Pair Transaction Fee",
                "symbol": alpaca_symbol(market).replace("/", ""),
                "qty": _num(-trade.fee_base) if trade.fee_base else "0",
                "price": _num(trade.price, 12),
                "status": "executed",
            })
        return rows

    def _list_orders(self, account: str, q: Query) -> SimResponse:
        status = q("status", "open")
        orders = list(self.exchange.orders(account))
        if status == "open":
            orders = [o for o in orders if o.status == "open"]
        elif status == "closed":
            orders = [o for o in orders if o.status != "open"]
        symbols = {s for s in q("symbols").split(",") if s}
        if symbols:
            table = self._by_alpaca_symbol()
            wanted = {table[s].symbol for s in symbols if s in table}
            orders = [o for o in orders if o.symbol in wanted]
        if q("after"):
            after = _parse_time(q("after"))
            orders = [o for o in orders if o.created_at > after]
        orders.sort(key=lambda o: o.created_at, reverse=q("direction", "desc") == "desc")
        limit = min(int(q("limit", "50") or 50), 500)
        return _json(200, [self.order_json(o) for o in orders[:limit]])

    def _cancel(self, account: str, alpaca_id: str) -> SimResponse:
        order_id = self._core_id(alpaca_id)
        order = self.exchange.order(account, order_id)
        if order is None:
            return _error(404, 40410000, "order not found")
        if order.status != "open":
            return _error(422, 42210000, f"order is already in \"{self.status_of(order)}\" state")
        self.exchange.cancel(account, order_id)
        return SimResponse(status=204, body=b"")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def _amount(value: object) -> Decimal | None:
    """An amount as sent (a JSON string or number), exactly; None when absent."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"invalid amount {str(value)[:30]!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount {str(value)[:30]!r} must be above 0")
    return amount
