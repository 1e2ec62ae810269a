"""Serves each face on its own 127.0.0.1 port (HTTP/1.1 keep-alive, one thread per connection).

The server only moves bytes: it parses a request into a SimRequest, asks the face, and writes the
SimResponse back, or drops the connection / holds the answer when the face says so (faults).

It speaks HTTP/1.1 itself rather than through http.server's BaseHTTPRequestHandler: that one parses
every request's headers with the email package and writes each answer in two sends, ~0.3 ms of
GIL-bound CPU per request. A copy fan-out to 100 followers sends a burst of 100 requests at once,
and the last answer of the burst waited for the CPU of all the others: the simulator, not the
modelled latency, set the pace. What is supported is what the SDKs send: request bodies with a
Content-Length (no chunked uploads), ``Expect: 100-continue``, keep-alive by HTTP version and the
Connection header.
"""

from __future__ import annotations

import email.utils
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.faces import FACES
from bot.sim.faces.base import Face, SimRequest, SimResponse

_MAX_LINE = 65_536  # longest request or header line accepted
_MAX_HEADERS = 100
_METHODS = frozenset({"GET", "POST", "DELETE", "PUT", "PATCH"})
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_SERVER_HEADER = "NIJA-sim/1.0"


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The Date header, formatted once a second rather than on every answer."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler], face: Face) -> None:
        self.face = face
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(socketserver.StreamRequestHandler):
    """One client connection: requests are read and answered in turn until either side closes it."""

    server: _Server
    timeout = 120  # an idle keep-alive connection is closed after this
    disable_nagle_algorithm = True

    def handle(self) -> None:
        try:
            while self._serve_one():
                pass
        except (OSError, ValueError):  # the client went away (or the server is stopping): nothing to answer
            pass

    def _line(self) -> bytes:
        line = self.rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BadRequest(431, "line too long")
        return line

    def _read_request(self) -> tuple[SimRequest, bool] | None:
        """(request, keep the connection open after answering), or None when the client closed it."""
        line = self._line()
        while line in (b"\r\n", b"\n"):  # tolerated before a request line (RFC 9112 2.2)
            line = self._line()
        if not line:
            return None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, f"bad request line {line[:80]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            field = self._line()
            if field in (b"\r\n", b"\n", b""):
                break
            name, colon, value = field.decode("latin-1").partition(":")
            if not colon:
                raise _BadRequest(400, "header line without a colon")
            headers[name.strip().lower()] = value.strip()
        else:
            raise _BadRequest(431, "too many headers")
        if method not in _METHODS:
            raise _BadRequest(501, f"unsupported method {method}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(501, "chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            raise _BadRequest(400, "bad Content-Length") from None
        if length < 0:
            raise _BadRequest(400, "bad Content-Length")
        if length and headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return None  # the client closed the connection mid-body
        connection = headers.get("connection", "").lower()
        keep = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
        path, _, query = target.partition("?")
        if "://" in path:  # absolute form: http://host/path
            parsed = urlsplit(target)
            path, query = parsed.path, parsed.query
        request = SimRequest(
            method=method, path=path, query=parse_qs(query, keep_blank_values=True) if query else {},
            headers=headers, body=body, host=headers.get("host", ""),
        )
        return request, keep

    def _serve_one(self) -> bool:
        """Read one request and answer it; False when the connection must close."""
        try:
            read = self._read_request()
        except _BadRequest as bad:
            self._write(SimResponse(status=bad.status, body=str(bad).encode(), content_type="text/plain"), False)
            return False
        if read is None:
            return False
        request, keep = read
        face = self.server.face
        try:
            response = face.handle(request)
        except Exception as error:  # a face bug must answer 500, not kill the connection thread silently
            response = SimResponse.json({"error": [f"simulator error: {type(error).__name__}: {error}"]}, 500)
        if response.drop:
            self._drop()
            return False
        if response.hang_seconds and face.stopping.wait(response.hang_seconds):
            self._drop()
            return False
        self._write(response, keep)
        return keep

    def _write(self, response: SimResponse, keep: bool) -> None:
        """Status line, headers and body in one send (two sends stall on delayed ACKs and cost a syscall)."""
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
            f"Server: {_SERVER_HEADER}",
            f"Date: {_http_date()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        if not keep:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)

    def _drop(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SimulatorServer:
    """Runs the given faces of one SimExchange on free ports of 127.0.0.1 (or the given ports).

    When the exchange has a state file, each face reloads what it kept there (credentials, nonces).
    `workdir` keeps generated files (the Coinbase certificate) at a stable place; default a temporary
    directory removed on stop.
    """

    def __init__(
        self, exchange: SimExchange, faces: Iterable[str] = ("kraken",), host: str = "127.0.0.1",
        ports: dict[str, int] | None = None, workdir: Path | None = None,
    ) -> None:
        self.exchange = exchange
        self.host = host
        self._ports = dict(ports or {})
        names = list(faces)
        unknown = [n for n in names if n not in FACES]
        if unknown:
            raise ValueError(f"unknown simulator face(s) {', '.join(unknown)}; known: {', '.join(sorted(FACES))}")
        self._faces: dict[str, Face] = {name: FACES[name](exchange) for name in names}
        for face in self._faces.values():
            face.restore()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._workdir: Path | None = None
        self._own_workdir = workdir is None
        self._fixed_workdir = workdir

    def start(self) -> SimulatorServer:
        if self._servers:
            return self
        self._workdir = self._fixed_workdir or Path(tempfile.mkdtemp(prefix="nija-sim-"))
        try:
            for name, face in self._faces.items():
                face.stopping.clear()
                server = _Server((self.host, self._ports.get(name, 0)), _Handler, face)
                if face.tls:
                    context = face.ssl_context(self._workdir)
                    if context is None:
                        raise RuntimeError(f"face {name} wants TLS but gave no SSL context")
                    server.socket = context.wrap_socket(server.socket, server_side=True)
                self._servers[name] = server
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sim-{name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for face in self._faces.values():
            face.stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._workdir is not None and self._own_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def face(self, name: str) -> Face:
        return self._faces[name]

    @property
    def faces(self) -> list[str]:
        return list(self._faces)

    def port(self, face: str) -> int:
        server = self._servers.get(face)
        if server is None:
            raise RuntimeError(f"face {face!r} is not running (start the server first)")
        return int(server.server_address[1])

    def url(self, face: str) -> str:
        scheme = "https" if self._faces[face].tls else "http"
        return f"{scheme}://{self.host}:{self.port(face)}"

    def client_settings(self, face: str) -> dict[str, str]:
        """Extra environment a client of this face needs (e.g. COINBASE_CA_BUNDLE), by variable name."""
        return self._faces[face].client_settings()

    def provision(
        self, face: str, account_id: str, balances: dict[str, float], *, reuse: bool = False
    ) -> Credentials:
        """Create the account (if new) with these balances and fresh credentials valid on `face`.

        reuse: an account that already has credentials on `face` (a reloaded state file) keeps them.
        """
        if not self.exchange.has_account(account_id):
            self.exchange.create_account(account_id, balances)
        known = self._faces[face].credentials_of(account_id) if reuse else None
        return known or self._faces[face].register_credentials(account_id)
