"""The transport: krakenex's urllib3 session and the adapter mounted on the Coinbase/Alpaca requests sessions.

HTTP/1.1 framing, connection reuse, certificate checks, no redirects or proxies, requests' exceptions,
the stop token, telemetry, and cutting a call at a stop's deadline. A scripted byte-level server on
127.0.0.1 answers each request with the bytes a test gives it, so the framing cases (chunked, no
length, Connection: close, a server that closes an idle connection) are exact; the Kraken adapter over
the real simulator is covered by test_kraken.py and the contract suite.
"""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bot.brokers import telemetry
from bot.brokers.errors import StopRequested
from bot.brokers.http import PooledSession, endpoint_name, form_encode, mount_timeout
from bot.brokers.stopping import StopToken
from bot.sim.tls import make_self_signed_cert, server_context


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
    received: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))  # one per request read
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
                    self.received.release()
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
    session = PooledSession(2.0, {"User-Agent": "krakenex-test"})
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
    session = PooledSession(2.0)
    assert session.get(f"{url}/a").json() == {"a": [1, 2]}
    assert session.get(f"{url}/b").json() == {"b": True}  # read to the end of the connection
    assert session.get(f"{url}/c").json() == {}  # ...so this one needed a new connection
    assert server.connections == 2


def test_connection_close_and_an_idle_connection_closed_by_the_server_are_not_reused(harness: Harness) -> None:
    url = harness.url
    server = Scripted([_answer(b"1", extra="Connection: close\r\n"), _answer(b"2"), _answer(b"3")], close_after={1})
    harness.start(server)
    session = PooledSession(2.0)
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
    session = PooledSession(2.0)
    with pytest.raises(requests.HTTPError) as error:
        session.get(f"{url}/x").raise_for_status()
    assert error.value.response.status_code == 503
    with pytest.raises(ValueError):
        session.get(f"{url}/x").json()
    with pytest.raises(requests.ConnectionError, match="without response"):
        session.get(f"{url}/x")  # the server read the request and hung up
    with pytest.raises(requests.ConnectionError, match="IncompleteRead"):
        session.get(f"{url}/x")
    with pytest.raises(requests.Timeout):
        session.get(f"{url}/x", timeout=0.2)  # answer 4 is held until the test releases it
    server.release.set()
    with pytest.raises(requests.exceptions.InvalidHeader):
        session.get(f"{url}/x", headers={"API-Key": "k\r\nX-Injected: 1"})


def test_a_line_break_in_the_sessions_own_headers_is_refused_even_after_a_clean_request(harness: Harness) -> None:
    # The session's fixed headers are checked once, not on every request: a later change must be checked again.
    harness.start(Scripted([_answer(b'{"n":1}')]))
    session = PooledSession(2.0, {"User-Agent": "krakenex-test"})
    assert session.get(f"{harness.url}/0/public/Time").json() == {"n": 1}
    session.headers["User-Agent"] = "krakenex\r\nX-Injected: 1"
    with pytest.raises(requests.exceptions.InvalidHeader):
        session.get(f"{harness.url}/0/public/Time")
    session.close()


def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        PooledSession(1.0).get(f"http://127.0.0.1:{port}/0/public/Time")


_text = st.text(st.characters(codec="utf-8"), max_size=12)


@given(st.dictionaries(_text, st.one_of(_text, st.integers(), st.floats(allow_nan=False), st.binary(max_size=6))))
def test_form_encoding_is_urlencode_byte_for_byte(data: dict[str, object]) -> None:
    assert form_encode(data) == urllib.parse.urlencode(data)


def test_a_certificate_not_in_certifi_is_refused_whatever_requests_ca_bundle_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_self_signed_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pair.cert_path))  # would make requests trust it
    monkeypatch.setenv("SSL_CERT_FILE", str(pair.cert_path))
    listener = server_context(pair).wrap_socket(socket.create_server(("127.0.0.1", 0)), server_side=True)
    port = listener.getsockname()[1]

    def accept() -> None:
        try:
            conn, _ = listener.accept()
            conn.close()
        except (OSError, ssl.SSLError):  # the client hung up during the handshake: what this test expects
            pass

    threading.Thread(target=accept, daemon=True).start()
    with pytest.raises(requests.exceptions.SSLError):
        PooledSession(2.0).get(f"https://127.0.0.1:{port}/0/public/Time")
    listener.close()


def test_redirects_are_not_followed_and_proxy_variables_are_not_read(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as dead:
        dead_proxy = f"http://127.0.0.1:{dead.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server = Scripted([_answer(b"moved", status="302 Found", extra="Location: http://example.invalid/\r\n")])
    harness.start(server)
    answer = PooledSession(2.0).get(f"{harness.url}/0/public/Time")
    assert answer.status_code == 302 and answer.content == b"moved"
    assert server.connections == 1 and len(server.requests) == 1


def test_abort_cuts_a_call_in_progress_at_once(harness: Harness) -> None:
    server = Scripted([_answer(b"{}")], hold={0})
    harness.start(server)
    session = PooledSession(30.0)
    failures: list[BaseException] = []

    def call() -> None:
        try:
            session.post(f"{harness.url}/0/private/AddOrder", data={"nonce": 1})
        except BaseException as error:  # the assertion below names it
            failures.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    assert server.received.acquire(timeout=5)  # the request is on the wire, its answer held
    assert session.abort() == 1
    caller.join(timeout=5)
    server.release.set()
    assert not caller.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], requests.ConnectionError)


# ---- the adapter mounted on the Coinbase / Alpaca requests sessions --------------------------------------
@pytest.fixture
def heard() -> Iterator[list[tuple[str, str, float, str]]]:
    calls: list[tuple[str, str, float, str]] = []

    def listener(broker: str, endpoint: str, seconds: float, outcome: str) -> None:
        calls.append((broker, endpoint, seconds, outcome))

    telemetry.add_listener(listener)
    yield calls
    telemetry.remove_listener(listener)


def test_every_call_is_reported_with_its_outcome_and_counted(harness: Harness, heard: list) -> None:
    server = Scripted([_answer(b"{}"), _answer(b"slow down", status="429 Too Many Requests"),
                       _answer(b"down", status="503 Service Unavailable"), _answer(b"nope", status="404 Not Found"),
                       _answer(b"{}")], hold={4})
    harness.start(server)
    calls = telemetry.CallLog("coinbase")
    session = mount_timeout(requests.Session(), 0.3, calls=calls, stop=StopToken())
    session.trust_env = False
    order = "5f1c9a7e-0d3b-4a51-9d8c-3c1e2b7a9f00"
    assert session.get(f"{harness.url}/api/v3/brokerage/orders/historical/{order}").status_code == 200
    assert session.get(f"{harness.url}/api/v3/brokerage/accounts?limit=250").status_code == 429
    assert session.post(f"{harness.url}/api/v3/brokerage/orders", json={}).status_code == 503
    assert session.get(f"{harness.url}/v2/orders:by_client_order_id?client_order_id=x").status_code == 404
    with pytest.raises(requests.Timeout):
        session.get(f"{harness.url}/v2/account")
    server.release.set()
    assert [(b, e, o) for b, e, _, o in heard] == [
        ("coinbase", "GET /api/v3/brokerage/orders/historical/{id}", "ok"),
        ("coinbase", "GET /api/v3/brokerage/accounts", "rate_limited"),
        ("coinbase", "POST /api/v3/brokerage/orders", "unavailable"),
        ("coinbase", "GET /v2/orders:by_client_order_id", "refused"),
        ("coinbase", "GET /v2/account", "timeout"),
    ]
    assert all(seconds >= 0 for _, _, seconds, _ in heard)
    counts = calls.counts()
    assert (counts.calls, counts.failed) == (5, 3)  # a refusal of one request is not an exchange fault
    assert counts.last_failure.startswith("GET /v2/account")


def test_a_listener_that_raises_never_reaches_the_caller(harness: Harness, heard: list) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("metrics backend down")

    telemetry.add_listener(broken)
    try:
        harness.start(Scripted([_answer(b"{}"), _answer(b"{}")]))
        session = mount_timeout(requests.Session(), 2.0, calls=telemetry.CallLog("alpaca"))
        assert session.get(f"{harness.url}/v2/clock").status_code == 200
        assert session.get(f"{harness.url}/v2/clock").status_code == 200
    finally:
        telemetry.remove_listener(broken)
    assert [outcome for *_, outcome in heard] == ["ok", "ok"]  # the listeners after the broken one still hear


def test_no_call_starts_once_stopping_and_the_deadline_cuts_a_hung_one(harness: Harness) -> None:
    server = Scripted([_answer(b"{}"), _answer(b"{}")], hold={0})
    harness.start(server)
    stop = threading.Event()
    token = StopToken(stop)
    session = mount_timeout(requests.Session(), 30.0, stop=token)
    failures: list[BaseException] = []

    def call() -> None:
        try:
            session.get(f"{harness.url}/v2/orders")
        except BaseException as error:  # the assertion below names it
            failures.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    assert server.received.acquire(timeout=5)
    stop.set()
    with pytest.raises(StopRequested):
        session.get(f"{harness.url}/v2/account")  # not sent
    assert token.abort() == 1
    caller.join(timeout=5)
    server.release.set()
    assert not caller.is_alive() and isinstance(failures[0], requests.ConnectionError)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("path", "name"), [
    ("/0/private/AddOrder", "POST /0/private/AddOrder"),
    ("/v2/orders/6a1f0c52-95a1-4c1b-9f7c-0a0e51a4ce11?nested=true", "POST /v2/orders/{id}"),
    ("/v1beta3/crypto/us/bars", "POST /v1beta3/crypto/us/bars"),
    ("/api/v3/brokerage/products/BTC-USD/candles", "POST /api/v3/brokerage/products/BTC-USD/candles"),
])
def test_endpoint_names_keep_ids_out(path: str, name: str) -> None:
    assert endpoint_name("POST", path) == name
