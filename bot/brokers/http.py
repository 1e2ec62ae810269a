"""HTTP plumbing for the SDKs, on urllib3 (no HTTP parser of our own on the money path).

``mount_timeout`` mounts ``TimeoutHTTPAdapter`` on an SDK's requests session (Coinbase, Alpaca): a
default timeout on every call, no new call once the bot is stopping, every call reported to the
telemetry (bot/brokers/telemetry.py), and its connections cut when a stop's deadline comes.

``PooledSession`` is the part of ``requests.Session`` that krakenex uses (``get``, ``post``,
``headers``, ``close``) on one urllib3 connection pool per origin. Why not requests itself: a copy
fan-out sends hundreds of small requests from one process at once, and every microsecond of CPU a
request costs is spent under the GIL while the other followers wait; requests adds ~0.3 ms per call
on top of urllib3 (settings merges, cookie jars, hooks, and with trust_env a re-read of proxy
variables and ~/.netrc). What it keeps from requests' defaults: keep-alive, https certificates
verified against requests' own CA bundle (certifi) with the host name checked (so
REQUESTS_CA_BUNDLE, which a machine may set for other services, cannot change whom we trust for
Kraken), a connection the server closed while idle is not reused, nothing is retried, and every
failure is raised as the requests exception the adapter already classifies (``requests.Timeout``,
``requests.ConnectionError``, ``requests.HTTPError``). What it leaves out, none of which the Kraken
API uses: proxies, netrc, cookies, redirects.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.parse
import weakref
from collections.abc import Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.certs import where as ca_bundle
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationValueError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from bot.brokers import telemetry
from bot.brokers.stopping import StopToken

_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is
_LINE_BREAK = re.compile(r"[\r\n\0]")  # never inside a header: it would start a header of its own
_ID_SEGMENT = re.compile(r"(?=.*\d)[^/]{8,}")  # an order id or UUID in a path: one endpoint name for all of them


def _form_value(value: Any) -> str:
    if type(value) is int:  # a nonce or a count: digits and "-" only, which quote_plus leaves as they are
        return str(value)
    if isinstance(value, bytes):
        return urllib.parse.quote_plus(value)
    text = value if isinstance(value, str) else str(value)
    return text if _UNRESERVED.fullmatch(text) else urllib.parse.quote_plus(text)


def form_encode(data: Mapping[str, Any]) -> str:
    """``urllib.parse.urlencode(data)``, byte for byte, without quoting what needs none (most API values)."""
    return "&".join(f"{_form_value(key)}={_form_value(value)}" for key, value in data.items())


def endpoint_name(method: str, path: str) -> str:
    """'GET /api/v3/brokerage/orders/historical/5f1c...' -> 'GET /api/v3/brokerage/orders/historical/{id}'."""
    path = path.split("?", 1)[0]
    return f"{method} " + "/".join("{id}" if _ID_SEGMENT.fullmatch(part) else part for part in path.split("/"))


# ---- connections ---------------------------------------------------------------------------------------
class _OneWrite:
    """A request with a body goes out in one write (head and body together), as one TCP segment.

    http.client writes the head, then urllib3 the body: two writes, and on a busy machine the second
    system call (with loopback delivery done in the sender's time) was the largest part of a call's
    CPU. The bytes sent are exactly urllib3's; only the number of writes changes.
    """

    _held: bytes | None = None
    _hold_head = False

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        self._hold_head = isinstance(body, bytes) and bool(body)
        self._held = None
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        finally:  # urllib3 sends a bytes body right after the head, so nothing is left held: reset for a failed request
            self._held, self._hold_head = None, False

    def send(self, data: Any) -> None:
        if self._hold_head:
            if self._held is None:
                self._held = bytes(data)  # the head, from endheaders(): wait for the body
                return
            data, self._held, self._hold_head = self._held + bytes(data), None, False
        super().send(data)  # type: ignore[misc]


# ---- connections a stop can cut ------------------------------------------------------------------------
class ConnectionTracker:
    """The connections of one session, so a stop's deadline can cut a call that would otherwise hang.

    urllib3 builds connections from its pools' ``ConnectionCls``; each tracker gives its pool manager
    pool classes whose connections register themselves when they connect.
    """

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _add(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.add(connection)

    def pool_classes(self) -> dict[str, type[HTTPConnectionPool]]:
        """Pool classes (by scheme) whose connections this tracker can cut."""
        tracker = self

        class TrackedHTTPConnection(_OneWrite, HTTPConnection):
            def connect(self) -> None:
                super().connect()
                tracker._add(self)

        class TrackedHTTPSConnection(_OneWrite, HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                tracker._add(self)

        class TrackedHTTPPool(HTTPConnectionPool):
            ConnectionCls = TrackedHTTPConnection

        class TrackedHTTPSPool(HTTPSConnectionPool):
            ConnectionCls = TrackedHTTPSConnection

        return {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}

    def abort(self) -> int:
        """Shut every open connection down (a call blocked on it fails at once); how many were cut."""
        with self._lock:
            connections = list(self._connections)
        cut = 0
        for connection in connections:
            sock = connection.sock
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
                cut += 1
            except OSError:  # already closed
                pass
        return cut


# ---- requests sessions (Coinbase, Alpaca) ------------------------------------------------------------
class TimeoutHTTPAdapter(HTTPAdapter):
    """SDKs (coinbase-advanced-py, alpaca-py) send without a timeout; a hung call must never hang a thread forever.

    Also: no new call once the bot is stopping (``stop``), each call reported (``calls``).
    """

    def __init__(
        self, timeout: float, *args: Any, calls: telemetry.CallLog | None = None, stop: StopToken | None = None,
        **kwargs: Any,
    ) -> None:
        self.timeout = timeout
        self.calls = calls
        self.stop = stop
        self.tracker = ConnectionTracker()  # before super().__init__, which builds the pool manager
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.tracker.pool_classes()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        endpoint = endpoint_name(str(request.method), request.path_url)
        if self.stop is not None:
            self.stop.check(endpoint)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.calls is None:
            return super().send(request, **kwargs)
        started = time.perf_counter()
        try:
            response = super().send(request, **kwargs)
        except requests.Timeout as error:
            self.calls.record(endpoint, time.perf_counter() - started, telemetry.TIMEOUT, type(error).__name__)
            raise
        except requests.RequestException as error:
            self.calls.record(endpoint, time.perf_counter() - started, telemetry.UNAVAILABLE, type(error).__name__)
            raise
        self.calls.record(endpoint, time.perf_counter() - started, telemetry.outcome_of_status(response.status_code),
                          f"HTTP {response.status_code}")
        return response


def mount_timeout(
    session: requests.Session, timeout: float, *, calls: telemetry.CallLog | None = None, stop: StopToken | None = None
) -> requests.Session:
    """Mount the timeout adapter for http and https on an SDK's session (with the adapter's call log and stop)."""
    adapter = TimeoutHTTPAdapter(timeout, calls=calls, stop=stop)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if stop is not None:
        stop.add_abort(adapter.tracker.abort)
    return session


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if _LINE_BREAK.search(name) or _LINE_BREAK.search(value):
            raise requests.exceptions.InvalidHeader(f"header {name!r} holds a line break")


# ---- krakenex on urllib3 -------------------------------------------------------------------------------
class Response:
    """What krakenex reads from an answer: the status, ``raise_for_status`` and ``json``."""

    def __init__(self, url: str, status_code: int, reason: str, headers: Mapping[str, str], content: bytes) -> None:
        self.url = url
        self.status_code = status_code
        self.reason = reason
        self.headers = headers  # case-insensitive
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self, **kwargs: Any) -> Any:
        """The body as JSON; a body that is not JSON raises ValueError (json.JSONDecodeError), as requests does."""
        return json.loads(self.content, **kwargs)

    def raise_for_status(self) -> None:
        if 400 <= self.status_code < 600:
            kind = "Client" if self.status_code < 500 else "Server"
            raise requests.HTTPError(f"{self.status_code} {kind} Error: {self.reason} for url: {self.url}",
                                     response=self)  # type: ignore[arg-type]


class PooledSession:
    """krakenex's requests.Session on one urllib3 keep-alive pool per origin (see the module doc)."""

    trust_env = False  # proxy variables, ~/.netrc and REQUESTS_CA_BUNDLE are never read
    verify = True  # https certificates are always verified (requests' CA bundle)

    def __init__(self, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self.headers: dict[str, str] = dict(headers or {})
        self.tracker = ConnectionTracker()
        # One connection per origin: each session serves one caller at a time (the key's or the public lock).
        self._manager = urllib3.PoolManager(
            num_pools=4, maxsize=1, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle(),
        )
        self._manager.pool_classes_by_scheme = self.tracker.pool_classes()
        self._pools: dict[tuple[str, str], HTTPConnectionPool] = {}
        self._checked_headers: dict[str, str] = {}

    # ---- the requests.Session calls krakenex makes ---------------------------------------------------
    def get(
        self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        target = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        return self.request("GET", target, None, headers, timeout)

    def post(
        self, url: str, data: Mapping[str, Any] | str | None = None, headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """A form post; ``data`` already encoded (a str, as requests takes it) is sent as it is: the signed bytes."""
        body = (data if isinstance(data, str) else form_encode(data or {})).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, body, sent, timeout)

    def close(self) -> None:
        self._manager.clear()
        self._pools.clear()

    def abort(self) -> int:
        """Cut this session's connections, a call in progress included (a stop's deadline)."""
        return self.tracker.abort()

    # ---- one request ---------------------------------------------------------------------------------
    def _pool(self, url: str) -> tuple[HTTPConnectionPool, str]:
        parts = urllib.parse.urlsplit(url)
        origin = (parts.scheme.lower(), parts.netloc)
        pool = self._pools.get(origin)
        if pool is None:
            if origin[0] not in ("http", "https") or not parts.hostname:
                raise requests.exceptions.InvalidURL(f"cannot send to {url!r}")
            try:
                pool = self._manager.connection_from_host(parts.hostname, parts.port, origin[0])
            except (LocationValueError, ValueError) as error:
                raise requests.exceptions.InvalidURL(f"cannot send to {url!r}: {error}") from error
            self._pools[origin] = pool
        return pool, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None, timeout: float | None
    ) -> Response:
        """Send one request and read its whole answer; a failed connection is dropped, never reused half-read."""
        if self.headers != self._checked_headers:  # the session's own headers: checked once, again if changed
            _check_headers(self.headers)
            self._checked_headers = dict(self.headers)
        if headers:
            _check_headers(headers)
            sent = {**self.headers, **headers}
        else:
            sent = dict(self.headers)
        pool, target = self._pool(url)
        wait = self.timeout if timeout is None else timeout
        try:
            answer = pool.urlopen(
                method, target, body=body, headers=sent, retries=False, redirect=False, assert_same_host=False,
                timeout=wait, preload_content=True, decode_content=False,
            )
        except ConnectTimeoutError as error:
            if isinstance(error, NewConnectionError):  # refused, unreachable, no such host
                raise requests.ConnectionError(f"{method} {url}: cannot connect: {error}") from error
            raise requests.ConnectTimeout(f"{method} {url}: connecting timed out after {wait:g}s") from error
        except (ReadTimeoutError, TimeoutError) as error:
            raise requests.ReadTimeout(f"{method} {url}: no answer within {wait:g}s") from error
        except SSLError as error:
            raise requests.exceptions.SSLError(f"{method} {url}: TLS failed: {error}") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise requests.ConnectionError(f"{method} {url}: {type(error).__name__}: {error}") from error
        return Response(url, answer.status, answer.reason or "", answer.headers, answer.data)
