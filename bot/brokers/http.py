"""HTTP plumbing for the SDKs: a default timeout on every call, and a lean keep-alive session for krakenex.

``mount_timeout`` puts a timeout on every call an SDK makes through its requests session.

``KeepAliveSession`` is the part of ``requests.Session`` that krakenex uses (``get``, ``post``,
``headers``, ``close``), speaking HTTP/1.1 itself over one persistent socket. Why: a copy fan-out
sends hundreds of small requests from one process at once, and every microsecond of CPU a request
costs is spent under the GIL while the other followers wait. requests costs ~0.45 ms of CPU per
call (settings merges, cookie jars, hooks, urllib3's pool, and http.client's email-package header
parser); this costs a fraction of that. With 100 followers that was the difference between one
order round trip and three.

What it keeps from requests' defaults: https certificates are verified against requests' own CA
bundle (certifi) with the host name checked; a connection the server closed while it sat idle is
detected before it is reused; nothing is retried (requests' adapters do not retry either); and every
failure is raised as the requests exception the adapter already classifies (``requests.Timeout``,
``requests.ConnectionError``, ``requests.HTTPError``). What it leaves out, none of which the Kraken
API uses: proxies, netrc, cookies, redirects, compressed answers.
"""

from __future__ import annotations

import json
import re
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.certs import where as ca_bundle

_MAX_LINE = 65_536  # longest status, header or chunk-size line accepted
_MAX_HEADERS = 100
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


def _form_value(value: Any) -> str:
    if isinstance(value, bytes):
        return urllib.parse.quote_plus(value)
    text = value if isinstance(value, str) else str(value)
    return text if _UNRESERVED.fullmatch(text) else urllib.parse.quote_plus(text)


def form_encode(data: Mapping[str, Any]) -> str:
    """``urllib.parse.urlencode(data)``, byte for byte, without quoting what needs none (most API values)."""
    return "&".join(f"{_form_value(key)}={_form_value(value)}" for key, value in data.items())


class TimeoutHTTPAdapter(HTTPAdapter):
    """SDKs (krakenex, alpaca-py) send without a timeout; a hung call must never hang a thread forever."""

    def __init__(self, timeout: float, *args: Any, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def mount_timeout(session: requests.Session, timeout: float) -> requests.Session:
    """Mount the timeout adapter for http and https on an SDK's session."""
    adapter = TimeoutHTTPAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def _verifying_context() -> ssl.SSLContext:
    """One client TLS context for all sessions: requests' CA bundle (certifi), hostname checked, as requests does."""
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = ssl.create_default_context(cafile=ca_bundle())
        return _tls_context


class Response:
    """What krakenex reads from an answer: the status, ``raise_for_status`` and ``json``."""

    def __init__(self, url: str, status_code: int, reason: str, headers: dict[str, str], content: bytes) -> None:
        self.url = url
        self.status_code = status_code
        self.reason = reason
        self.headers = headers  # names lower-cased
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


class _BrokenAnswer(Exception):
    """The server closed the connection mid-answer or sent something that is not HTTP/1.x."""


class _Connection:
    """One socket to one origin, with the buffered reader answers are parsed from."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float) -> None:
        self.origin = (scheme, host, port)
        self.host_header = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
            self.sock = _verifying_context().wrap_socket(raw, server_hostname=host) if scheme == "https" else raw
        except BaseException:
            raw.close()
            raise
        self.reader = self.sock.makefile("rb")

    def dropped(self) -> bool:
        """An idle keep-alive socket that is readable was closed (or written to) by the server: not reusable."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def settimeout(self, timeout: float) -> None:
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()

    def _line(self) -> bytes:
        line = self.reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BrokenAnswer("a line longer than 64 KiB")
        return line

    def read_answer(self, method: str) -> tuple[int, str, dict[str, str], bytes, bool]:
        """(status, reason, headers, body, keep-alive) of the next answer; interim 1xx answers are skipped."""
        while True:
            line = self._line()
            if not line:
                raise _BrokenAnswer("the server closed the connection without answering")
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code_text, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code_text.isdigit() or len(code_text) != 3:
                raise _BrokenAnswer(f"not an HTTP/1.x status line: {line[:80]!r}")
            headers: dict[str, str] = {}
            for _ in range(_MAX_HEADERS + 1):
                field = self._line()
                if field in (b"\r\n", b"\n"):
                    break
                if not field:
                    raise _BrokenAnswer("the connection closed inside the headers")
                name, colon, value = field.decode("latin-1").partition(":")
                if not colon:
                    raise _BrokenAnswer(f"a header line without a colon: {field[:80]!r}")
                key, value = name.strip().lower(), value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            else:
                raise _BrokenAnswer(f"more than {_MAX_HEADERS} header lines")
            status = int(code_text)
            if status >= 200:
                break
        connection = headers.get("connection", "").lower()
        keep = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0])
            except ValueError:
                raise _BrokenAnswer(f"Content-Length {headers['content-length']!r}") from None
            body = self.reader.read(length)
            if len(body) < length:
                raise _BrokenAnswer(f"the answer ended after {len(body)} of {length} bytes")
        else:  # no length: the body runs to the end of the connection
            body, keep = self.reader.read(), False
        return status, reason, headers, body, keep

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self._line()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BrokenAnswer(f"a chunk size line {size_line[:80]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):  # trailers, ignored
                    pass
                return b"".join(parts)
            chunk = self.reader.read(size + 2)  # the chunk and its CRLF
            if len(chunk) < size + 2:
                raise _BrokenAnswer("the connection closed inside a chunk")
            parts.append(chunk[:size])


class KeepAliveSession:
    """One persistent HTTP/1.1 connection to one origin, used by one caller at a time (see the module doc)."""

    trust_env = False  # proxy variables, ~/.netrc and REQUESTS_CA_BUNDLE are never read
    verify = True  # https certificates are always verified (requests' CA bundle)

    def __init__(self, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self.headers: dict[str, str] = dict(headers or {})
        self._lock = threading.Lock()
        self._conn: _Connection | None = None

    # ---- the requests.Session calls krakenex makes ---------------------------------------------------
    def get(
        self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        target = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        return self.request("GET", target, None, headers, timeout)

    def post(
        self, url: str, data: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        body = form_encode(data or {}).encode()  # byte for byte what krakenex signs (urlencode(data))
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, body, sent, timeout)

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    # ---- one exchange of bytes -------------------------------------------------------------------------
    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None, timeout: float | None
    ) -> Response:
        """Send one request and read its whole answer; any failure closes the connection (never reused half-read)."""
        parts = urllib.parse.urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https") or not host:
            raise requests.exceptions.InvalidURL(f"cannot send to {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            conn = self._connection(scheme, host, port, wait)
            lines = [f"{method} {target} HTTP/1.1", f"Host: {conn.host_header}"]
            for name, value in {**self.headers, **(headers or {})}.items():
                line = f"{name}: {value}"
                if "\n" in line or "\r" in line or "\0" in line:
                    raise requests.exceptions.InvalidHeader(f"header {name!r} holds a line break")
                lines.append(line)
            if body is not None or method in ("POST", "PUT", "PATCH"):
                lines.append(f"Content-Length: {len(body or b'')}")
            message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
            try:
                conn.sock.sendall(message)  # one write: no delayed-ACK stall between headers and body
                status, reason, answer_headers, content, keep = conn.read_answer(method)
            except TimeoutError as error:
                self._disconnect()
                raise requests.ReadTimeout(f"{method} {url}: no answer within {wait:g}s") from error
            except (OSError, _BrokenAnswer) as error:
                self._disconnect()
                raise requests.ConnectionError(f"{method} {url}: {type(error).__name__}: {error}") from error
            if not keep:
                self._disconnect()
        return Response(url, status, reason, answer_headers, content)

    def _connection(self, scheme: str, host: str, port: int, timeout: float) -> _Connection:
        conn = self._conn
        if conn is not None and (conn.origin != (scheme, host, port) or conn.dropped()):
            self._disconnect()
            conn = None
        if conn is not None:
            conn.settimeout(timeout)
            return conn
        try:
            conn = _Connection(scheme, host, port, timeout)
        except TimeoutError as error:
            raise requests.ConnectTimeout(f"connecting to {host}:{port} timed out") from error
        except ssl.SSLError as error:
            raise requests.exceptions.SSLError(f"TLS with {host}:{port} failed: {error}") from error
        except OSError as error:
            raise requests.ConnectionError(f"cannot connect to {host}:{port}: {error}") from error
        self._conn = conn
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
