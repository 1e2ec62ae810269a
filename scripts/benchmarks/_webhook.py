"""A local JSON webhook on 127.0.0.1 that Apprise's json:// posts to: it records every message, and can answer
500 or hold a request until let go (a failing or a slow notification service).

Shared by the notification tests (tests/notify/conftest.py) and `bench.py notify`, so both mean the same
thing by a hung or a failing service.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """The webhook; ``hold_seconds`` bounds how long a held request waits (None: until ``hold`` is set or close)."""

    def __init__(self, hold_seconds: float | None = 30.0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.hold = threading.Event()  # cleared: requests wait here until set
        self.hold.set()
        self.arrived = 0  # requests that reached the handler, held or not
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.changed:
                    receiver.arrived += 1
                    receiver.changed.notify_all()
                receiver.hold.wait(hold_seconds)
                with receiver.changed:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.messages.append(body)
                    receiver.changed.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/nija-hook"

    def wait_for(self, count: int, seconds: float = 20.0) -> list[dict[str, Any]]:
        """Block until ``count`` messages have arrived (a deadline, not a sleep)."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.messages) >= count, seconds):
                raise AssertionError(f"{len(self.messages)} of {count} messages arrived: {self.messages}")
            return list(self.messages)

    def wait_for_title(self, title: str, seconds: float = 20.0) -> dict[str, Any]:
        """Block until a message with this title has arrived; that message."""
        with self.changed:
            if not self.changed.wait_for(lambda: any(m["title"] == title for m in self.messages), seconds):
                raise AssertionError(f"no {title!r} among {[m['title'] for m in self.messages]}")
            return next(m for m in self.messages if m["title"] == title)

    def wait_arrived(self, count: int, seconds: float = 20.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.arrived >= count, seconds), "no request arrived"

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
