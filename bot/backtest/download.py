"""`python bot.py download-data --broker kraken|coinbase|alpaca --pairs BTC-USD,... --timeframe 1h --days N
--out DIR`: candles through each brokerage's own SDK, written as the gzip CSV the backtest reads
(PAIR_TF.csv.gz, `time,open,high,low,close,volume`, open times in unix seconds, ascending).

- Kraken: pykrakenapi's OHLC frames (`get_ohlc_data`) on krakenex, with pykrakenapi's own endless retry and
  sleep turned off (retry=0, crl_sleep=0) and ours bounded (DOWNLOAD_RETRIES). pykrakenapi stamps a fixed
  frequency on the frame and refuses an answer with a gap in it; that answer is then read from krakenex's
  JSON directly. Kraken's OHLC keeps only the most recent 720 candles of an interval: older history is not
  available there, and the command says so.
- Coinbase Advanced: coinbase-advanced-py's `get_candles` (350 candles a call, signed with the master key:
  COINBASE_MASTER_API_KEY / _API_SECRET).
- Alpaca: alpaca-py's historical data clients (crypto needs no key; stocks use ALPACA_MASTER_*).

Each pair is fetched forward in pages from where its file stops (resuming an interrupted download) or from
`--days` before `--end`, and the file is replaced atomically after each page, so a stop loses at most a page.
Only closed candles are kept: a candle that closes after `--end` (default: now) is left for the next run.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bot.backtest.data import DataError, read_candles, timeframe_seconds
from bot.candles import CANDLE_COLUMNS, candle_frame, empty_candles
from bot.config.settings import Settings

BROKERS = ("kraken", "coinbase", "alpaca")
KRAKEN_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)  # minutes
KRAKEN_MAX_ROWS = 720
PYKRAKENAPI_PUBLIC_SECONDS = 1.0  # pykrakenapi's own floor between public calls (its CallRateLimitError)
COINBASE_GRANULARITIES = {1: "ONE_MINUTE", 5: "FIVE_MINUTE", 15: "FIFTEEN_MINUTE", 30: "THIRTY_MINUTE",
                          60: "ONE_HOUR", 120: "TWO_HOUR", 360: "SIX_HOUR", 1440: "ONE_DAY"}
COINBASE_PAGE = 350
ALPACA_PAGE = 10_000

Page = pd.DataFrame  # CANDLE_COLUMNS, ascending, closed candles only


def _frame(rows: list[tuple[float, ...]]) -> pd.DataFrame:
    """One page's candles, each time once, ascending (a page may overlap the one before)."""
    return candle_frame(rows).drop_duplicates("time").sort_values("time").reset_index(drop=True)


def with_retries(what: str, call: Callable[[], Any], attempts: int, wait_seconds: float,
                 retryable: tuple[type[BaseException], ...]) -> Any:
    """The call, tried at most `attempts` times on the errors that may pass; then one clear DataError."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except retryable as error:
            if attempt == attempts:
                raise DataError(f"{what}: failed {attempts} times, last: {type(error).__name__}: {error}") from None
            time.sleep(wait_seconds * attempt)  # back-off between real network calls, not synchronisation
    raise AssertionError("unreachable")


class Source:
    """One brokerage's candle pages: `pages(pair, start, end)` yields closed candles in [start, end)."""

    notice = ""  # one line to show once the pair is done (e.g. Kraken's 720-candle horizon)

    def pages(self, pair: str, minutes: int, start: int, end: int) -> Iterator[Page]:
        raise NotImplementedError


class KrakenSource(Source):
    def __init__(self, settings: Settings) -> None:
        import krakenex
        import requests
        from pykrakenapi import KrakenAPI

        from bot.brokers.http import mount_timeout
        from bot.brokers.kraken_symbols import KrakenSymbols

        self.settings = settings
        api = krakenex.API()
        api.uri = settings.exchanges.kraken_api_url.rstrip("/")
        mount_timeout(api.session, settings.exchanges.exchange_timeout_seconds)
        self.api = api
        self.frames = KrakenAPI(api, retry=0, crl_sleep=0)  # its own retries and sleeps never end: ours do
        self._last_public = -PYKRAKENAPI_PUBLIC_SECONDS
        self.retryable = (requests.RequestException, KrakenTransient)
        pairs = self._call("AssetPairs", lambda: self._public("AssetPairs", {}))
        symbols = KrakenSymbols.from_asset_pairs(pairs)
        self.names = {symbols.symbol_of_pair(name): fields.get("altname", name) for name, fields in pairs.items()}

    def _public(self, method: str, data: dict[str, Any]) -> Any:
        answer = self.api.query_public(method, data)
        errors = answer.get("error") or []
        if errors:
            message = ", ".join(errors)
            if any(e.startswith(("EService", "EAPI:Rate limit", "EGeneral:Temporary")) for e in errors):
                raise KrakenTransient(message)
            raise DataError(f"kraken {method}: {message}")
        return answer["result"]

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        b = self.settings.backtest
        return with_retries(f"kraken {what}", call, b.download_retries, b.download_retry_wait_seconds,
                            self.retryable)

    def _ohlc(self, altname: str, minutes: int, since: int) -> tuple[list[tuple[float, ...]], int]:
        from pykrakenapi.pykrakenapi import KrakenAPIError

        # pykrakenapi refuses a second public call within a second (Kraken's public pace): keep to it
        time.sleep(max(0.0, self._last_public + PYKRAKENAPI_PUBLIC_SECONDS - time.monotonic()))
        self._last_public = time.monotonic()
        try:
            with warnings.catch_warnings():  # pykrakenapi's frequency string 'T' is deprecated in pandas 2.3
                warnings.simplefilter("ignore", FutureWarning)
                frame, last = self.frames.get_ohlc_data(altname, interval=minutes, since=since, ascending=True)
        except KrakenAPIError as error:
            text = str(error)
            if "EService" in text or "Rate limit" in text:
                raise KrakenTransient(text) from None
            raise DataError(f"kraken OHLC {altname}: {text}") from None
        except ValueError:  # a gap: pykrakenapi cannot stamp its fixed frequency; read the same answer as JSON
            result = self._public("OHLC", {"pair": altname, "interval": minutes, "since": since})
            key = next(k for k in result if k != "last")
            rows = [(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[6])) for r in result[key]]
            return rows, int(result["last"])
        if frame.empty:
            return [], int(last)
        rows = list(zip(frame["time"].astype("int64"), frame["open"].astype(float), frame["high"].astype(float),
                        frame["low"].astype(float), frame["close"].astype(float), frame["volume"].astype(float),
                        strict=True))
        return rows, int(last)

    def pages(self, pair: str, minutes: int, start: int, end: int) -> Iterator[Page]:
        if minutes not in KRAKEN_INTERVALS:
            raise DataError(f"--timeframe: Kraken has {minutes}-minute candles only in {KRAKEN_INTERVALS} minutes")
        altname = self.names.get(pair)
        if altname is None:
            raise DataError(f"--pairs {pair}: Kraken lists no such market")
        step = minutes * 60
        since = start - step  # Kraken answers the candles after `since`
        self.notice = ""
        first = True
        while True:
            rows, last = self._call(f"OHLC {altname}", lambda since=since: self._ohlc(altname, minutes, since))
            closed = [r for r in rows if start <= r[0] and r[0] + step <= end]
            if first and rows and rows[0][0] > start:
                self.notice = (f"{pair}: Kraken served candles from {_iso(rows[0][0])} on only (its OHLC keeps the "
                               f"last {KRAKEN_MAX_ROWS} candles of an interval)")
            first = False
            if closed:
                yield _frame(closed)
            newest = max((r[0] for r in rows), default=since)
            if not rows or newest + step > end or last <= since or newest <= since:
                return
            since = newest


class KrakenTransient(Exception):
    """A Kraken answer worth asking again (service busy, rate limit)."""


class CoinbaseSource(Source):
    def __init__(self, settings: Settings) -> None:
        import requests
        from coinbase.rest import RESTClient

        from bot.brokers.http import mount_timeout
        from bot.config.credentials import master_prefixes, resolve_credentials

        lookup = resolve_credentials("coinbase", os.environ, master_prefixes("coinbase"))
        if lookup.credentials is None:
            raise DataError("coinbase candles need COINBASE_MASTER_API_KEY and COINBASE_MASTER_API_SECRET "
                            f"(get_candles is a signed call): {lookup.problem or lookup.state}")
        exchange = settings.exchanges
        self.client = RESTClient(api_key=lookup.credentials.api_key, api_secret=lookup.credentials.api_secret,
                                 base_url=exchange.coinbase_api_url.split("://", 1)[-1].rstrip("/"))
        session: requests.Session = self.client.session
        if exchange.coinbase_ca_bundle:
            session.trust_env = False
            session.verify = exchange.coinbase_ca_bundle
        mount_timeout(session, exchange.exchange_timeout_seconds)
        self.settings = settings
        self.retryable = (requests.ConnectionError, requests.Timeout, _Retryable)

    def _candles(self, pair: str, granularity: str, first: int, last: int) -> Any:
        import requests

        try:
            return self.client.get_candles(pair, start=str(first), end=str(last), granularity=granularity)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status}") from None
            raise DataError(f"coinbase candles {pair}: HTTP {status}") from None

    def pages(self, pair: str, minutes: int, start: int, end: int) -> Iterator[Page]:
        granularity = COINBASE_GRANULARITIES.get(minutes)
        if granularity is None:
            raise DataError(f"--timeframe: Coinbase has {sorted(COINBASE_GRANULARITIES)}-minute candles only")
        step = minutes * 60
        b = self.settings.backtest
        first = start
        while first + step <= end:
            last = min(first + (COINBASE_PAGE - 1) * step, end - step)
            def page(first: int = first, last: int = last) -> Any:
                return self._candles(pair, granularity, first, last)

            answer = with_retries(f"coinbase candles {pair}", page, b.download_retries,
                                  b.download_retry_wait_seconds, self.retryable)
            rows = [
                (int(_field(c, "start")), float(_field(c, "open")), float(_field(c, "high")), float(_field(c, "low")),
                 float(_field(c, "close")), float(_field(c, "volume")))
                for c in (_field(answer, "candles") or [])
            ]
            closed = [r for r in rows if first <= r[0] <= last]
            if closed:
                yield _frame(closed)
            first = last + step


class _Retryable(Exception):
    """An answer worth asking again."""


class AlpacaSource(Source):
    def __init__(self, settings: Settings) -> None:
        from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient

        from bot.config.credentials import master_prefixes, resolve_credentials

        url = settings.exchanges.alpaca_data_url
        lookup = resolve_credentials("alpaca", os.environ, master_prefixes("alpaca"))
        found = lookup.credentials
        key, secret = (found.api_key, found.api_secret) if found is not None else (None, None)
        self.crypto = CryptoHistoricalDataClient(key, secret, url_override=url)  # crypto bars: a key is optional
        self.stocks = StockHistoricalDataClient(key, secret, url_override=url) if key else None
        for client in (self.crypto, self.stocks):
            if client is not None:
                from bot.brokers.http import mount_timeout

                mount_timeout(client._session, settings.exchanges.exchange_timeout_seconds)
                client._retry = settings.backtest.download_retries  # alpaca-py's own 429/504 resends, bounded
                client._retry_wait = settings.backtest.download_retry_wait_seconds
        self.settings = settings

    def pages(self, pair: str, minutes: int, start: int, end: int) -> Iterator[Page]:
        import requests
        from alpaca.common.exceptions import APIError
        from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        base, _, quote = pair.partition("-")
        crypto = quote != "USD" or base in _ALPACA_CRYPTO_BASES
        if not crypto and self.stocks is None:
            raise DataError(f"--pairs {pair}: Alpaca stock bars need ALPACA_MASTER_API_KEY and _API_SECRET")
        if minutes % 1440 == 0:
            frame = TimeFrame(minutes // 1440, TimeFrameUnit.Day)
        elif minutes % 60 == 0:
            frame = TimeFrame(minutes // 60, TimeFrameUnit.Hour)
        else:
            frame = TimeFrame(minutes, TimeFrameUnit.Minute)
        step = minutes * 60
        symbol = f"{base}/{quote}" if crypto else base
        b = self.settings.backtest
        first = start
        while first + step <= end:
            last = min(first + ALPACA_PAGE * step, end)
            window = {"symbol_or_symbols": symbol, "timeframe": frame,
                      "start": datetime.fromtimestamp(first, UTC), "end": datetime.fromtimestamp(last - 1, UTC)}

            def bars(window: dict[str, Any] = window) -> Any:
                if crypto:
                    return self.crypto.get_crypto_bars(CryptoBarsRequest(**window))
                assert self.stocks is not None
                return self.stocks.get_stock_bars(StockBarsRequest(**window))

            def checked(bars: Callable[[], Any] = bars) -> Any:
                try:
                    return bars()
                except APIError as error:
                    status = error.status_code or 0
                    if status == 429 or status >= 500:
                        raise _Retryable(f"HTTP {status}") from None
                    raise DataError(f"alpaca bars {pair}: HTTP {status} {error}") from None

            answer = with_retries(f"alpaca bars {pair}", checked, b.download_retries, b.download_retry_wait_seconds,
                                  (requests.ConnectionError, requests.Timeout, _Retryable))
            rows = [
                (int(bar.timestamp.timestamp()), bar.open, bar.high, bar.low, bar.close, bar.volume)
                for bar in answer.data.get(symbol, [])
            ]
            closed = [r for r in rows if first <= r[0] and r[0] + step <= end]
            if closed:
                yield _frame(closed)
            first = last


#: Alpaca's crypto assets quoted in USD (anything else in X-USD is read as a stock)
_ALPACA_CRYPTO_BASES = frozenset({
    "AAVE", "AVAX", "BAT", "BCH", "BTC", "CRV", "DOGE", "DOT", "ETH", "GRT", "LINK", "LTC", "MKR", "PEPE", "SHIB",
    "SOL", "SUSHI", "TRUMP", "UNI", "USDC", "USDT", "XRP", "XTZ", "YFI",
})


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def write_candles(frame: pd.DataFrame, path: Path) -> None:
    """Replace `path` atomically with the gzip CSV (a crash leaves the old file or the new one, never half)."""
    temporary = path.with_name(f".{path.name}.part")
    with gzip.open(temporary, "wt", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, columns=list(CANDLE_COLUMNS), float_format="%.10g")
    os.replace(temporary, path)


def download_pair(source: Source, pair: str, timeframe: str, start: int, end: int, out: Path,
                  on_page: Callable[[int], None] = lambda rows: None) -> tuple[int, int]:
    """Fetch `pair` into out/PAIR_TF.csv.gz from where the file stops (or `start`); returns (new, total) rows."""
    step = timeframe_seconds(timeframe)
    path = out / f"{pair}_{timeframe}.csv.gz"
    existing = read_candles(path) if path.exists() else empty_candles()
    first = start
    if len(existing):
        first = max(int(existing["time"].iloc[-1]) + step, start)
    added = 0
    frame = existing
    for page in source.pages(pair, step // 60, first, end):
        frame = pd.concat([frame, page], ignore_index=True).drop_duplicates("time").sort_values("time")
        write_candles(frame.reset_index(drop=True), path)
        added += len(page)
        on_page(len(page))
    return added, len(frame)


def make_source(broker: str, settings: Settings) -> Source:
    return {"kraken": KrakenSource, "coinbase": CoinbaseSource, "alpaca": AlpacaSource}[broker](settings)


# ---- the command ----------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", required=True, choices=BROKERS, help="whose SDK and candles")
    parser.add_argument("--pairs", required=True, help="comma-separated pairs, e.g. BTC-USD,ETH-USD")
    parser.add_argument("--timeframe", default="1h", help="candle length: 1m, 5m, 15m, 30m, 1h, 4h, 1d")
    parser.add_argument("--days", type=float, default=30.0, help="how far back from --end (above 0)")
    parser.add_argument("--end", default=None, help="last moment to fetch up to (unix seconds or YYYY-MM-DD; "
                        "default: now)")
    parser.add_argument("--out", required=True, type=Path, help="folder for PAIR_TF.csv.gz files")


def _end(text: str | None) -> int:
    if text is None:
        return int(time.time())
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise DataError(f"--end {text!r}: expected unix seconds or a date like 2026-05-08") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    try:
        step = timeframe_seconds(args.timeframe)
        if args.days <= 0:
            raise DataError(f"--days {args.days}: expected a number of days above 0")
        end = _end(args.end) // step * step
        start = int(end - args.days * 86_400) // step * step
        pairs = [p.strip().upper() for p in args.pairs.split(",") if p.strip()]
        if not pairs:
            raise DataError("--pairs: expected one or more pairs like BTC-USD")
        args.out.mkdir(parents=True, exist_ok=True)
        source = make_source(args.broker, settings)
        console = Console(stderr=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            for pair in pairs:
                task = progress.add_task(f"{args.broker} {pair} {args.timeframe}", total=(end - start) // step)
                added, total = download_pair(source, pair, args.timeframe, start, end, args.out,
                                             lambda rows, task=task: progress.advance(task, rows))
                progress.update(task, completed=(end - start) // step)
                print(f"{pair}: {added} new candles, {total} in {args.out / f'{pair}_{args.timeframe}.csv.gz'}")
                if source.notice:
                    print(source.notice)
    except DataError as error:
        print(str(error), file=sys.stderr)
        return 2
    except OSError as error:
        print(f"--out {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    return 0
