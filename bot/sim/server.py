"""Serves each face on its own 127.0.0.1 port (HTTP/1.1 keep-alive, one thread per connection).

The server only moves bytes: it parses a request into a SimRequest, asks the face, and writes the
SimResponse back, or drops the connection / holds the answer when the face says so (faults).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.faces import FACES
from bot.sim.faces.base import Face, SimRequest, SimResponse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], face: Face) -> None:
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDK sessions reuse one connection
    server: _Server
    timeout = 120  # an idle keep-alive connection is closed after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: object) -> None:
        """Silent: a request log line per call would cost more than the call."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = SimRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            host=self.headers.get("Host", ""),
        )
        face = self.server.face
        try:
            response = face.handle(request)
        except Exception as error:  # a face bug must answer 500, not kill the connection thread silently
            response = SimResponse.json({"error": [f"simulator error: {type(error).__name__}: {error}"]}, 500)
        if response.drop:
            self._drop()
            return
        if response.hang_seconds and face.stopping.wait(response.hang_seconds):
            self._drop()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


class SimulatorServer:
    """Runs the given faces of one SimExchange on free ports of 127.0.0.1 (or the given ports)."""

    def __init__(
        self, exchange: SimExchange, faces: Iterable[str] = ("kraken",), host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
    ) -> None:
        self.exchange = exchange
        self.host = host
        self._ports = dict(ports or {})
        names = list(faces)
        unknown = [n for n in names if n not in FACES]
        if unknown:
            raise ValueError(f"unknown simulator face(s) {', '.join(unknown)}; known: {', '.join(sorted(FACES))}")
        self._faces: dict[str, Face] = {name: FACES[name](exchange) for name in names}
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._workdir: Path | None = None

    def start(self) -> SimulatorServer:
        if self._servers:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="nija-sim-"))
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
        if self._workdir is not None:
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

    def provision(self, face: str, account_id: str, balances: dict[str, float]) -> Credentials:
        """Create the account (if new) with these balances and fresh credentials valid on `face`."""
        if not self.exchange.has_account(account_id):
            self.exchange.create_account(account_id, balances)
        return self._faces[face].register_credentials(account_id)
