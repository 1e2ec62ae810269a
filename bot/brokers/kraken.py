"""Kraken spot adapter on krakenex (the real SDK) behind the Broker contract.

Why krakenex alone, and not pykrakenapi: pykrakenapi's retry loop runs forever by default and
its own limiter sleeps and retries forever (we need one retry policy, in bot.brokers.errors and
Broker.place_order); its counters are not thread-safe; it print()s; add_standard_order only
validates by default and cannot send cl_ord_id; get_ohlc_data needs gap-free candles (it sets an
index frequency) and breaks under pandas 3. Everything it would give us is a DataFrame built from
the same JSON krakenex returns, which we build ourselves in a few lines with float dtypes.

Per key (bot.brokers.kraken_nonce): one lock held across each whole private request, by every
thread and every process using the key, so nonces arrive in order; the last nonce and a high-water
mark reserved ahead of use persisted in the state directory; a client-side mirror of Kraken's rate
counter (bot.brokers.kraken_rate_limit), kept in the same file, so we wait instead of being refused.
Public and private calls use separate krakenex.API objects because krakenex keeps the last response
on the object (`api.response`), which is not safe to share between threads.

Transport: krakenex runs on bot.brokers.http.PooledSession (urllib3). Every call checks the stop
token first (no new call once the bot stops) and is reported to the adapter's call log.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import krakenex
import pandas as pd
import requests

from bot.brokers import telemetry
from bot.brokers.amounts import ZERO, floor_to, plain, to_decimal
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
    MarketNotFound,
    NonceError,
    OrderRejected,
    RateLimitError,
    StopRequested,
)
from bot.brokers.http import PooledSession, form_encode
from bot.brokers.kraken_nonce import KeyChannel, channel_for
from bot.brokers.kraken_prices import PriceBoard, board_for
from bot.brokers.kraken_rate_limit import TIERS, RateLimiter
from bot.brokers.kraken_symbols import BALANCE_SUFFIXES, KrakenSymbols
from bot.candles import candle_frame
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings

_AVERAGE = decimal.Context(prec=15)  # an average price to 15 significant digits: exact enough, readable
log = logging.getLogger(__name__)

OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
MAX_OHLC_ROWS = 720
_AUTH_ERRORS = ("EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied", "EAPI:Bad request")
_UNAVAILABLE = ("EService:", "EGeneral:Internal error", "EAPI:Feature disabled")


class _NoncedAPI(krakenex.API):
    """krakenex with our nonce: the SDK's own is int(1000 * time.time()), which repeats across threads."""

    def __init__(self, key: str, secret: str, channel: KeyChannel) -> None:
        super().__init__(key=key, secret=secret)
        self._channel = channel
        self._secret_bytes = base64.b64decode(secret)  # decoded once, not on every signed request

    def _nonce(self) -> int:
        return self._channel.next_nonce()  # called by query_private while the key is held

    def query_private(self, method: str, data: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """krakenex's query_private with the body form-encoded once: the bytes signed are the bytes sent."""
        data = {} if data is None else data
        data["nonce"] = self._nonce()
        urlpath = f"/{self.apiversion}/private/{method}"
        postdata = form_encode(data)  # what urllib.parse.urlencode gives, faster
        headers = {"API-Key": self.key, "API-Sign": self._signature(urlpath, data["nonce"], postdata)}
        return self._query(urlpath, postdata, headers, timeout=timeout)  # type: ignore[arg-type]

    def _signature(self, urlpath: str, nonce: object, postdata: str) -> str:
        """Kraken's signature, as krakenex's _sign computes it, with the secret decoded once instead of per call."""
        message = urlpath.encode() + hashlib.sha256((str(nonce) + postdata).encode()).digest()
        return base64.b64encode(hmac.new(self._secret_bytes, message, hashlib.sha512).digest()).decode()


def _pooled(api: krakenex.API, timeout: float) -> krakenex.API:
    """The SDK on urllib3's keep-alive pool (bot.brokers.http.PooledSession) instead of a requests.Session.

    Each Kraken call through requests cost ~0.45 ms of CPU (settings merges, cookies, hooks, and,
    with trust_env, a re-read of proxy variables and ~/.netrc): the bulk of a 100-follower fan-out on
    a small machine. The key signs every private call (a netrc login would be wrong anyway) and
    certificates are verified against certifi's bundle, so REQUESTS_CA_BUNDLE, which a machine may
    set for other services, cannot change whom we trust for Kraken. The cost: an HTTPS_PROXY in the
    environment is not used for Kraken, and redirects are not followed.
    """
    user_agent = api.session.headers.get("User-Agent", "krakenex")
    api.session.close()
    api.session = PooledSession(timeout, {"User-Agent": str(user_agent), "Accept": "application/json"})
    return api


def _outcome(error: BrokerError) -> str:
    """The telemetry outcome of a classified Kraken error."""
    if isinstance(error, AuthenticationError):
        return telemetry.AUTH_FAILED
    if isinstance(error, NonceError):
        return telemetry.NONCE
    if isinstance(error, RateLimitError):
        return telemetry.RATE_LIMITED
    if isinstance(error, ExchangeUnavailable):
        cause = error.__cause__
        return telemetry.TIMEOUT if isinstance(cause, requests.Timeout) else telemetry.UNAVAILABLE
    if isinstance(error, (OrderRejected, MarketNotFound)):
        return telemetry.REFUSED
    return telemetry.ERROR


def classify(errors: list[str], *, placing_order: bool = False) -> BrokerError:
    """Kraken's error strings -> the one exception tree that decides retry policy (bot.brokers.errors)."""
    first = str(errors[0]) if errors else "unknown Kraken error"
    text = "; ".join(map(str, errors))
    if first.startswith(_AUTH_ERRORS):
        return AuthenticationError(
            f"Kraken refused the API key ({text}): check the key and secret, and that the key may query funds "
            "and create/query/cancel orders", broker="kraken", raw=errors,
        )
    if first.startswith("EAPI:Invalid nonce"):
        return NonceError(text, broker="kraken", raw=errors)
    if "Rate limit exceeded" in first or first.startswith("EGeneral:Temporary lockout"):
        return RateLimitError(text, broker="kraken", raw=errors)
    if first.startswith(_UNAVAILABLE):
        return ExchangeUnavailable(text, broker="kraken", raw=errors)
    if first.startswith("EQuery:Unknown asset pair"):
        return MarketNotFound(text, broker="kraken", raw=errors)
    if placing_order and first.startswith(("EOrder:", "EGeneral:Invalid arguments", "EFunding:")):
        return OrderRejected(text, broker="kraken", raw=errors)
    return BrokerError(text, broker="kraken", raw=errors)


class KrakenBroker(Broker):
    name = "kraken"

    def __init__(self, account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> None:
        exchange = settings.exchanges
        super().__init__(
            account_label=account.label, clock=clock, lookup_attempts=exchange.order_lookup_attempts,
            lookup_delay_seconds=exchange.order_lookup_delay_seconds,
        )
        credentials = account.credentials
        if credentials is None or not credentials.api_key or not credentials.api_secret:
            raise AuthenticationError(
                f"{account.label}: no Kraken API key/secret ({account.credential_problem or 'not configured'})",
                broker=self.name,
            )
        try:
            base64.b64decode(credentials.api_secret, validate=True)
        except (binascii.Error, ValueError):
            raise AuthenticationError(
                f"{account.label}: the Kraken API secret from {credentials.source}_API_SECRET is not valid base64",
                broker=self.name,
            ) from None
        self.cash_assets = tuple(settings.general.cash_assets)
        self.timeout = exchange.exchange_timeout_seconds
        self._resync_step = exchange.kraken_nonce_resync_step
        uri = exchange.kraken_api_url.rstrip("/")

        self._public_api = _pooled(krakenex.API(), self.timeout)
        self._public_api.uri = uri
        self._public_lock = threading.Lock()
        self._price_board: PriceBoard = board_for(uri, state_dir)
        self._price_max_age = exchange.kraken_price_max_age_seconds

        self._channel: KeyChannel = channel_for(credentials.api_key, state_dir, clock, exchange.kraken_nonce_reserve)
        counter_max, decay = TIERS[exchange.kraken_rate_tier]
        self.limiter = RateLimiter(  # the tier's numbers only: the counter is the key's, in its file
            clock, exchange.kraken_rate_counter_max or counter_max,
            exchange.kraken_rate_decay_per_second or decay, exchange.kraken_rate_headroom,
        )
        self._private_api = _pooled(
            _NoncedAPI(credentials.api_key, credentials.api_secret, self._channel), self.timeout
        )
        self._private_api.uri = uri
        self.stop_token.add_abort(self._public_api.session.abort)
        self.stop_token.add_abort(self._private_api.session.abort)
        self._symbols: KrakenSymbols | None = None

    @property
    def last_nonce(self) -> int:
        """The last nonce this process saw for the key (its own or another process's)."""
        return self._channel.last_nonce

    def close(self) -> None:
        self._public_api.close()
        self._private_api.close()

    # ---- transport ------------------------------------------------------------------------------
    def _public(self, method: str, data: Mapping[str, Any] | None = None) -> Any:
        self.stop_token.check(f"Kraken {method}")
        with self._public_lock:
            return self._call(lambda: self._public_api.query_public(method, dict(data or {})), method, False)

    def _private(self, method: str, data: Mapping[str, Any] | None = None, *, placing_order: bool = False) -> Any:
        """One private call under the key's lock; read-only calls get one retry after a nonce resync."""
        attempts = 1 if placing_order else 2
        for attempt in range(attempts):
            try:
                return self._private_once(method, data, placing_order)
            except NonceError:
                if attempt + 1 == attempts:
                    raise
                log.warning("%s: Kraken refused our nonce on %s; resynced, retrying once", self.account_label, method)
        raise AssertionError("unreachable")

    def _private_once(self, method: str, data: Mapping[str, Any] | None, placing_order: bool) -> Any:
        self.stop_token.check(f"Kraken {method}")
        with self._channel.hold(self.stop_token):
            self.limiter.acquire(self._channel, method, self.stop_token)
            self.stop_token.check(f"Kraken {method}")  # the wait may have ended because the bot is stopping
            try:
                result = self._call(
                    lambda: self._private_api.query_private(method, dict(data or {})), method, placing_order
                )
            except NonceError:
                self._channel.resync(self._resync_step)  # at once, past whatever used a higher nonce
                raise
            except RateLimitError:
                self.limiter.refused(self._channel)
                raise
            self._channel.accepted()
            return result

    def _call(self, send: Any, method: str, placing_order: bool) -> Any:
        """One HTTP call (under its lock): the result, or the classified error; reported to the call log."""
        started = time.perf_counter()
        try:
            answer = self._send(send, method)
            errors = list(answer.get("error") or [])
            if errors:
                raise classify(errors, placing_order=placing_order)
        except BrokerError as error:
            self.call_log.record(method, time.perf_counter() - started, _outcome(error), str(error))
            raise
        self.call_log.record(method, time.perf_counter() - started, telemetry.OK)
        return answer.get("result")

    def _send(self, call: Any, method: str) -> dict[str, Any]:
        try:
            answer = call()
        except requests.Timeout as error:
            raise ExchangeUnavailable(f"Kraken {method} timed out after {self.timeout:g}s", broker=self.name) from error
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            raise ExchangeUnavailable(f"Kraken {method} answered HTTP {status}", broker=self.name) from error
        except requests.RequestException as error:
            raise ExchangeUnavailable(
                f"Kraken {method} failed: {type(error).__name__}", broker=self.name
            ) from error
        except ValueError as error:  # the body was not JSON (a proxy's error page)
            raise ExchangeUnavailable(
                f"Kraken {method} answered something that is not JSON", broker=self.name
            ) from error
        if not isinstance(answer, dict):
            raise ExchangeUnavailable(f"Kraken {method} answered an unexpected shape", broker=self.name)
        return answer

    # ---- markets and prices -----------------------------------------------------------------------
    def _load_markets(self) -> dict[str, MarketInfo]:
        self._symbols = KrakenSymbols.from_asset_pairs(self._public("AssetPairs"))
        return self._symbols.markets

    def symbols(self) -> KrakenSymbols:
        if self._symbols is None:
            self.markets()
        assert self._symbols is not None
        return self._symbols

    def tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        names = self.symbols()
        pairs = [self.market(symbol).exchange_symbol for symbol in wanted]
        result = self._public("Ticker", {"pair": ",".join(pairs)})
        now = self.clock.now()
        out: dict[str, Ticker] = {}
        for pair, data in result.items():
            symbol = names.symbol_of_pair(pair)
            if symbol is None:
                continue
            out[symbol] = Ticker(
                symbol=symbol, bid=float(data["b"][0]), ask=float(data["a"][0]), last=float(data["c"][0]),
                volume_24h=float(data["v"][1]), time=now,
            )
        self._price_board.note({symbol: ticker.last for symbol, ticker in out.items()}, self.clock)
        return out

    def usd_prices(self, symbols: Iterable[str]) -> dict[str, float]:
        """Last prices of these X-USD symbols for valuing holdings: shared by all accounts while fresh."""
        return self._price_board.prices(
            symbols, self.clock, self._price_max_age,
            lambda missing: {symbol: ticker.last for symbol, ticker in self.tickers(missing).items()},
        )

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        if minutes not in OHLC_INTERVALS:
            raise ValueError(f"Kraken has no {minutes}-minute candles; intervals: {OHLC_INTERVALS}")
        market = self.market(symbol)
        wanted = min(count, MAX_OHLC_ROWS - 1)
        params: dict[str, Any] = {"pair": market.exchange_symbol, "interval": minutes}
        if wanted + 2 < MAX_OHLC_ROWS:
            params["since"] = int(self.clock.now() - (wanted + 2) * minutes * 60)
        result = self._public("OHLC", params)
        rows = next((v for k, v in result.items() if k != "last"), [])
        closed = rows[:-1][-wanted:] if wanted > 0 else []  # Kraken's last row is the still-open candle
        return candle_frame([(r[0], r[1], r[2], r[3], r[4], r[6]) for r in closed])  # [5] is Kraken's vwap

    # ---- balances ---------------------------------------------------------------------------------
    def balances(self) -> BalanceSnapshot:
        raw = self._private("BalanceEx")
        names = self.symbols()
        assets: dict[str, AssetBalance] = {}
        for code, info in raw.items():
            if code.upper().endswith(BALANCE_SUFFIXES):  # staked / earn balances cannot be traded
                continue
            asset = names.asset(code)
            total = to_decimal(info.get("balance"))
            hold = to_decimal(info.get("hold_trade"))
            if total == 0 and hold == 0:
                continue
            assets[asset] = AssetBalance(asset, total, max(total - hold, ZERO))
        priced = [f"{a}-USD" for a in assets if a != "USD" and f"{a}-USD" in self.markets()]
        prices = {"USD": 1.0}
        for symbol, last in (self.usd_prices(priced) if priced else {}).items():
            prices[symbol.split("-", 1)[0]] = last
        cash_total = cash_available = equity = 0.0
        for asset, balance in assets.items():
            price = prices.get(asset)
            if price is None:
                price = 1.0 if asset in self.cash_assets else 0.0  # a stablecoin without a USD pair counts at par
                if not price:
                    log.debug("%s: no USD price for %s; left out of equity", self.account_label, asset)
            equity += float(balance.total) * price  # a valuation: float from here on
            if asset in self.cash_assets:
                cash_total += float(balance.total) * price
                cash_available += float(balance.available) * price
        return BalanceSnapshot(
            cash_available=cash_available, cash_total=cash_total, assets=assets, prices_usd=prices, equity=equity,
            time=self.clock.now(),
        )

    # ---- orders -----------------------------------------------------------------------------------
    def _submit_order(self, request: OrderRequest, market: MarketInfo) -> OrderResult:
        """AddOrder, then QueryOrders for the fill.

        Sizes: a quantity is sent as ``volume`` cut to lot_decimals. A buy of ``quote_notional`` (the
        total spend, fee included) is sent with ``viqc`` (volume in quote currency; Kraken takes it on
        market buys only): the volume is the order's cost and Kraken charges the fee on top of it, in
        quote, so the volume is ``quote_notional / (1 + taker fee)`` cut to cost_decimals. Every order
        carries ``fciq`` so the fee is always charged in the quote currency (the order's ``fee``, which
        the adapter reports as ``fee_quote``): Kraken's documented default for sales is the base currency.
        """
        data: dict[str, Any] = {
            "pair": market.exchange_symbol, "type": request.side.value, "ordertype": request.order_type,
            "cl_ord_id": request.client_order_id, "oflags": "fciq",
        }
        in_quote = request.quote_notional is not None and request.side is Side.BUY and request.order_type == "market"
        if not in_quote:
            qty = request.base_qty
            if qty is None:  # a sale sized in quote: Kraken takes viqc on market buys only; convert at the bid
                bid = to_decimal(repr(self.tickers([request.symbol])[request.symbol].bid))
                qty = (request.quote_notional or ZERO) / bid
            qty = market.floor_qty(qty)
            if qty <= 0 or qty < market.min_base_qty:
                raise OrderRejected(
                    f"quantity {plain(qty)} {market.base} is under Kraken's minimum {plain(market.min_base_qty)} "
                    f"{market.base} ({market.base_decimals} lot decimals)", broker=self.name,
                )
            data["volume"] = plain(qty)
        else:
            total = request.quote_notional or ZERO
            cost = floor_to(total / (1 + Decimal(repr(market.taker_fee))), market.quote_decimals)
            if cost <= 0 or cost < market.min_notional:
                raise OrderRejected(
                    f"order value {plain(cost)} {market.quote} (of {plain(total)} with the fee) is under Kraken's "
                    f"minimum {plain(market.min_notional)} {market.quote}", broker=self.name,
                )
            data["volume"] = plain(cost)
            data["oflags"] = "fciq,viqc"
        if request.order_type == "limit":
            if request.limit_price is None:
                raise OrderRejected("a limit order needs a limit price", broker=self.name)
            data["price"] = plain(to_decimal(repr(market.round_price(request.limit_price))), market.price_decimals)
        result = self._private("AddOrder", data, placing_order=True)
        txid = str(result["txid"][0])
        try:
            found = self._private("QueryOrders", {"txid": txid})
        except (ExchangeUnavailable, RateLimitError, NonceError, StopRequested) as error:
            return OrderResult(
                client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
                status=OrderStatus.IN_FLIGHT, exchange_order_id=txid,
                reason=f"accepted as {txid}; fill not known yet ({type(error).__name__})", time=self.clock.now(),
            )
        return self._result(txid, found[txid], request.client_order_id)

    def _result(self, txid: str, order: Mapping[str, Any], client_order_id: str | None = None) -> OrderResult:
        """An order object (QueryOrders / OpenOrders / ClosedOrders) with its amounts exact.

        ``vol_exec`` is the executed base volume, ``cost`` its quote value without the fee, ``fee`` the
        fee in quote (fciq), ``price`` the average price.
        """
        descr = order.get("descr") or {}
        symbol = self.symbols().symbol_of_pair(str(descr.get("pair", ""))) or str(descr.get("pair", ""))
        filled = to_decimal(order.get("vol_exec"))
        cost = to_decimal(order.get("cost"))
        # "price" is rounded to the pair's decimals (cents per fill on a SOL-sized order); cost / vol_exec is the exact
        # average, so filled x price agrees with what the account was charged.
        price = (_AVERAGE.divide(cost, filled) if filled and cost else ZERO) or to_decimal(order.get("price"))
        status = str(order.get("status", ""))
        if status in ("pending", "open"):
            state = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
        elif status == "closed":
            state = OrderStatus.FILLED if filled > 0 else OrderStatus.CANCELED
        else:  # canceled, expired
            state = OrderStatus.CANCELED
        at = float(order.get("closetm") or order.get("opentm") or 0.0)
        if filled > 0 and price > 0:
            # A fill is a trade at that price: it values every account's holdings like a Ticker's last price.
            self._price_board.note({symbol: float(price)}, self.clock, at=at or None)
        return OrderResult(
            client_order_id=str(order.get("cl_ord_id") or client_order_id or ""),
            symbol=symbol, side=Side(str(descr.get("type", "buy"))), status=state, exchange_order_id=txid,
            filled_base=filled, avg_price=price, filled_quote=cost, fee_quote=to_decimal(order.get("fee")),
            reason=str(order.get("reason") or ""), time=at,
        )

    def _find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """By cl_ord_id: open orders first, then closed ones (Kraken checks cl_ord_id only among open orders)."""
        for method, key in (("OpenOrders", "open"), ("ClosedOrders", "closed")):
            found = self._private(method, {"cl_ord_id": client_order_id})[key]
            matches = [(txid, o) for txid, o in found.items() if o.get("cl_ord_id") == client_order_id]
            if len(matches) > 1:
                log.error(
                    "%s: %d Kraken orders carry client id %s: %s", self.account_label, len(matches), client_order_id,
                    ", ".join(txid for txid, _ in matches),
                )
            if matches:
                txid, order = matches[-1]
                return self._result(txid, order, client_order_id)
        return None

    def open_orders(self) -> list[OrderResult]:
        found = self._private("OpenOrders")["open"]
        return [self._result(txid, order) for txid, order in found.items()]

    def cancel_order(self, order: OrderResult) -> None:
        if order.exchange_order_id:
            self._private("CancelOrder", {"txid": order.exchange_order_id})
        else:
            self._private("CancelOrder", {"cl_ord_id": order.client_order_id})

    def server_time(self) -> float:
        return float(self._public("Time")["unixtime"])
