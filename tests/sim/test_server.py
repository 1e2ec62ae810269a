"""The simulator's own HTTP/1.1 server: keep-alive, framing, refusals, and a burst answered concurrently."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from bot.clock import ManualClock
from bot.sim.exchange import SimExchange
from bot.sim.faces.base import Face, SimRequest, SimResponse
from bot.sim.prices import SyntheticMarket
from bot.sim.server import _Handler, _Server

START = 1_750_000_000.0


class EchoFace(Face):
    """Answers what it was asked; `gate` holds every answer until the test opens it."""

    name = "echo"

    def __init__(self, exchange: SimExchange) -> None:
        super().__init__(exchange)
        self.gate: threading.Event | None = None
        self.waiting = threading.Semaphore(0)

    def handle(self, request: SimRequest) -> SimResponse:
        if self.gate is not None:
            self.waiting.release()
            self.gate.wait(5)
        return SimResponse.json({
            "method": request.method, "path": request.path, "query": request.query, "body": request.body.decode(),
            "agent": request.header("User-Agent"), "host": request.host,
        })


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[tuple[EchoFace, int]]:
    clock = ManualClock(START)
    face = EchoFace(SimExchange(SyntheticMarket(seed=1, n_markets=2, start_time=START - 86_400), clock, seed=1))
    server = _Server(("127.0.0.1", 0), _Handler, face)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield face, int(server.server_address[1])
    face.stopping.set()
    server.shutdown()
    server.close_connections()
    server.server_close()


def _read_answer(reader: BinaryIO) -> tuple[bytes, dict[str, str], bytes]:
    status = reader.readline()
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", "0")))


def test_one_connection_carries_many_requests_each_answered_in_one_piece(echo: tuple[EchoFace, int]) -> None:
    _, port = echo
    with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as reader:
        # Two requests in one write (pipelined): each is answered in turn on the same connection.
        conn.sendall(b"GET /0/public/Time?pair=XBTUSD&x= HTTP/1.1\r\nHost: sim\r\nUser-Agent: t\r\n\r\n"
                     b"POST /0/private/Balance HTTP/1.1\r\nHost: sim\r\nContent-Length: 7\r\n\r\nnonce=1")
        status, headers, body = _read_answer(reader)
        assert status == b"HTTP/1.1 200 OK\r\n" and headers["content-type"] == "application/json"
        assert b'"query":{"pair":["XBTUSD"],"x":[""]}' in body and b'"agent":"t"' in body and b'"host":"sim"' in body
        status, headers, body = _read_answer(reader)
        assert b'"method":"POST"' in body and b'"body":"nonce=1"' in body
        assert "connection" not in headers  # still open
        conn.sendall(b"GET /again HTTP/1.1\r\nConnection: close\r\n\r\n")
        status, headers, body = _read_answer(reader)
        assert b'"path":"/again"' in body and headers["connection"] == "close"
        assert reader.read() == b""  # the server closed it as asked


def test_http_1_0_expect_continue_and_bad_requests(echo: tuple[EchoFace, int]) -> None:
    _, port = echo
    with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as reader:
        conn.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        assert _read_answer(reader)[0] == b"HTTP/1.1 200 OK\r\n"
        assert reader.read() == b""  # HTTP/1.0 without keep-alive: closed after the answer
    with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as reader:
        conn.sendall(b"POST /up HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n" and reader.readline() == b"\r\n"
        conn.sendall(b"ok")
        assert b'"body":"ok"' in _read_answer(reader)[2]
    # Each refusal is sent only once the server has read all that was written (no reset on close).
    for raw, status in ((b"NONSENSE\r\n", 400), (b"TRACE / HTTP/1.1\r\n\r\n", 501),
                        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
                        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101, 431)):
        with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as reader:
            conn.sendall(raw)
            assert _read_answer(reader)[0].startswith(f"HTTP/1.1 {status} ".encode())
            assert reader.read() == b""


def test_a_burst_of_connections_is_answered_concurrently(echo: tuple[EchoFace, int]) -> None:
    """Every request is inside the face at once (a latency fault would overlap, not add up)."""
    face, port = echo
    face.gate = threading.Event()
    answers: list[bytes] = []

    def ask(i: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as conn, conn.makefile("rb") as reader:
            conn.sendall(f"GET /{i} HTTP/1.1\r\n\r\n".encode())
            answers.append(_read_answer(reader)[2])

    clients = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for client in clients:
        client.start()
    for _ in clients:
        assert face.waiting.acquire(timeout=5)  # all 40 are being handled before any is answered
    face.gate.set()
    for client in clients:
        client.join(5)
    assert len(answers) == 40
