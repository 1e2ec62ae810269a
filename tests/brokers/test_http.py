"""The lean keep-alive session krakenex runs on: HTTP/1.1 framing, connection reuse, and requests' exceptions.

A scripted byte-level server on 127.0.0.1 answers each request with the bytes a test gives it, so the
framing cases (chunked, no length, Connection: close, a server that closes an idle connection) are
exact; the Kraken adapter over the real simulator is covered by test_kraken.py and the contract suite.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bot.brokers.http import KeepAliveSession, form_encode


def _answer(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@dataclass
class Scripted:
    """Serves one scripted answer per request; records each request and each accepted connection."""

    answers: list[bytes | None]  # None: read the request, then close the connection without answering
    close_after: set[int] = field(default_factory=set)  # answer indexes after which the server closes
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closes: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))  # one per closed connection
    release: threading.Event = field(default_factory=threading.Event)  # lets a held answer go
    hold: set[int] = field(default_factory=set)  # answer indexes held until `release` is set

    def serve(self, listener: socket.socket) -> None:
        index = 0
        while index < len(self.answers):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            reader = conn.makefile("rb")
            with conn, reader:
                while index < len(self.answers):
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                                   if h.lower().startswith(b"content-length:")), 0)
                    self.requests.append(head + reader.read(length))
                    answer = self.answers[index]
                    if index in self.hold:
                        self.release.wait(5)
                    index += 1
                    if answer is None:
                        break
                    try:
                        conn.sendall(answer)
                    except OSError:  # the client gave up on this one (a timeout test)
                        break
                    if index - 1 in self.close_after:
                        break
            self.closes.release()


@dataclass
class Harness:
    url: str
    listener: socket.socket

    def start(self, script: Scripted) -> Scripted:
        threading.Thread(target=script.serve, args=(self.listener,), daemon=True).start()
        return script


@pytest.fixture
def harness() -> Iterator[Harness]:
    listener = socket.create_server(("127.0.0.1", 0))
    yield Harness(f"http://127.0.0.1:{listener.getsockname()[1]}", listener)
    listener.close()


def test_one_connection_serves_many_requests_and_the_body_is_what_krakenex_signs(harness: Harness) -> None:
    url = harness.url
    server = Scripted([_answer(b'{"n":1}'), _answer(b'{"n":2}'), _answer(b'{"n":3}')])
    harness.start(server)
    session = KeepAliveSession(2.0, {"User-Agent": "krakenex-test"})
    assert session.get(f"{url}/0/public/Time", params={"pair": "XBTUSD,ETHUSD"}).json() == {"n": 1}
    data = {"nonce": 17, "pair": "XXBTZUSD", "volume": "0.5", "cl_ord_id": "a b&c"}
    assert session.post(f"{url}/0/private/AddOrder", data=data, headers={"API-Key": "k"}).json() == {"n": 2}
    assert session.post(f"{url}/0/private/Balance", data={"nonce": 18}).json() == {"n": 3}
    session.close()
    assert server.connections == 1
    get, post = server.requests[0], server.requests[1]
    assert get.startswith(b"GET /0/public/Time?pair=XBTUSD%2CETHUSD HTTP/1.1\r\n")
    assert b"\r\nUser-Agent: krakenex-test\r\n" in get and b"\r\nHost: 127.0.0.1:" in get
    assert b"\r\nContent-Type: application/x-www-form-urlencoded\r\n" in post and b"\r\nAPI-Key: k\r\n" in post
    assert post.endswith(b"\r\n\r\n" + urllib.parse.urlencode(data).encode())


def test_chunked_and_unsized_answers_are_read_whole(harness: Harness) -> None:
    url = harness.url
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\n{\"a\"\r\n6;ext=1\r\n: [1,2\r\n2\r\n]}\r\n0\r\nX-Trailer: t\r\n\r\n")
    unsized = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"b\": true}"
    server = Scripted([chunked, unsized, _answer(b"{}")], close_after={1})
    harness.start(server)
    session = KeepAliveSession(2.0)
    assert session.get(f"{url}/a").json() == {"a": [1, 2]}
    assert session.get(f"{url}/b").json() == {"b": True}  # read to the end of the connection
    assert session.get(f"{url}/c").json() == {}  # ...so this one needed a new connection
    assert server.connections == 2


def test_connection_close_and_an_idle_connection_closed_by_the_server_are_not_reused(harness: Harness) -> None:
    url = harness.url
    server = Scripted([_answer(b"1", extra="Connection: close\r\n"), _answer(b"2"), _answer(b"3")], close_after={1})
    harness.start(server)
    session = KeepAliveSession(2.0)
    assert session.get(f"{url}/x").content == b"1"
    assert session.get(f"{url}/x").content == b"2"
    assert server.closes.acquire(timeout=5) and server.closes.acquire(timeout=5)  # after answer 1, after answer 2
    assert session.get(f"{url}/x").content == b"3"  # seen before sending, so a new connection, no error
    assert server.connections == 3


def test_failures_are_the_requests_exceptions_the_adapter_classifies(harness: Harness) -> None:
    url = harness.url
    server = Scripted([_answer(b"<html>busy</html>", status="503 Service Unavailable"), _answer(b"not json"),
                       None, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", _answer(b"{}")],
                      close_after={3}, hold={4})
    harness.start(server)
    session = KeepAliveSession(2.0)
    with pytest.raises(requests.HTTPError) as error:
        session.get(f"{url}/x").raise_for_status()
    assert error.value.response.status_code == 503
    with pytest.raises(ValueError):
        session.get(f"{url}/x").json()
    with pytest.raises(requests.ConnectionError, match="without answering"):
        session.get(f"{url}/x")  # the server read the request and hung up
    with pytest.raises(requests.ConnectionError, match="ended after 5 of 10 bytes"):
        session.get(f"{url}/x")
    with pytest.raises(requests.Timeout):
        session.get(f"{url}/x", timeout=0.2)  # answer 4 is held until the test releases it
    server.release.set()
    with pytest.raises(requests.exceptions.InvalidHeader):
        session.get(f"{url}/x", headers={"API-Key": "k\r\nX-Injected: 1"})


def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        KeepAliveSession(1.0).get(f"http://127.0.0.1:{port}/0/public/Time")


_text = st.text(st.characters(codec="utf-8"), max_size=12)


@given(st.dictionaries(_text, st.one_of(_text, st.integers(), st.floats(allow_nan=False), st.binary(max_size=6))))
def test_form_encoding_is_urlencode_byte_for_byte(data: dict[str, object]) -> None:
    assert form_encode(data) == urllib.parse.urlencode(data)
