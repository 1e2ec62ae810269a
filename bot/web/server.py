"""uvicorn on a thread of the bot's process (or of `python bot.py web`).

The socket is bound before the thread starts, so a port in use is one clear error at once and the
URL is known before anyone asks; uvicorn's own log handlers are not installed (its records go through
the bot's handlers and their redaction), and it never touches the process's signal handlers.
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port); OSError names what went wrong."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    return f"http://{shown}:{port}"


class WebServer:
    """One FastAPI app served on a daemon thread until stop()."""

    def __init__(self, app: FastAPI, host: str, port: int, *, stop_seconds: float = 3.0) -> None:
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.stop_seconds = stop_seconds
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", log_level="warning",
                                timeout_graceful_shutdown=max(int(stop_seconds), 1))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self.sock])
        except Exception:  # the dashboard failing must not take trading down
            log.exception("the web server stopped")

    def start(self) -> str:
        self._thread.start()
        return self.url

    def begin_stop(self) -> None:
        """Ask the server to stop and return at once (stop() then only waits for what is left)."""
        self._server.should_exit = True

    def stop(self) -> None:
        if self._thread.ident is None:  # never started
            self.sock.close()
            return
        self._server.should_exit = True
        self._thread.join(self.stop_seconds + 1.0)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)
        self.sock.close()

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
