"""Safety (issue 12): loopback by default; any other address refuses to start without a token; the token (compared
in constant time) guards every read off loopback and every control, controls take only the bearer header."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.config.settings import load_settings
from bot.state.operator import OperatorStore
from bot.state.readmodel import ReadModel
from bot.state.store import StateStore
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate, WebSafetyError, basic_ok, bearer_ok, check_bind, is_loopback
from bot.web.board import Board
from bot.web.metrics import Metrics

TOKEN = "s3cret-token-0123456789"


def basic(password: str, user: str = "ops") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "nija.example.com"])
def test_any_other_address_refuses_to_start_without_a_token(host: str) -> None:
    with pytest.raises(WebSafetyError, match=f"WEB_HOST={host} would open the dashboard to the network"):
        check_bind(host, None)
    check_bind(host, TOKEN)


def test_a_short_token_is_refused_without_printing_it() -> None:
    with pytest.raises(WebSafetyError) as refused:
        check_bind("127.0.0.1", "short-secret")
    assert "short-secret" not in str(refused.value) and "16 characters" in str(refused.value)


def test_token_checks() -> None:
    assert bearer_ok(f"Bearer {TOKEN}", TOKEN) and bearer_ok(f"bearer {TOKEN}", TOKEN)
    assert not bearer_ok(f"Bearer {TOKEN}x", TOKEN) and not bearer_ok(None, TOKEN) and not bearer_ok("Bearer x", None)
    assert basic_ok(basic(TOKEN), TOKEN) and not basic_ok(basic("nope"), TOKEN)
    assert not basic_ok("Basic !!!not-base64", TOKEN) and not basic_ok(f"Bearer {TOKEN}", TOKEN)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    read, operator = ReadModel(path), OperatorStore(path)
    yield Board(read, operator, load_settings({}, env_file=None))
    read.close()
    operator.close()


def client_for(board: Board, host: str, token: str | None, *, in_process: bool = True) -> TestClient:
    return TestClient(create_app(board, Gate(host, token), Metrics(board), WebOptions(in_process, 2.0, 300.0)))


def test_off_loopback_every_read_needs_the_token_but_healthz(board: Board) -> None:
    client = client_for(board, "0.0.0.0", TOKEN)
    for path in ("/", "/api/v1/accounts", "/metrics", "/docs", "/openapi.json", "/static/cockpit.js"):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == 'Basic realm="NIJA"'
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path
        assert client.get(path, headers={"Authorization": basic(TOKEN)}).status_code == 200, path
        assert client.get(path, headers={"Authorization": basic("guess")}).status_code == 401, path
    assert client.get("/healthz").status_code in (200, 503)  # no token: no money, no secret in it


def test_controls_need_the_bearer_token_even_on_loopback(board: Board) -> None:
    client = client_for(board, "127.0.0.1", TOKEN)
    assert client.get("/api/v1/accounts").status_code == 200  # reads are open on loopback
    body = {"blocked": True, "reason": "test", "actor": "ops"}
    url = "/api/v1/controls/entries"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    # Basic credentials a browser caches would let another site press the button: not accepted for controls.
    assert client.post(url, json=body, headers={"Authorization": basic(TOKEN)}).status_code == 401
    assert board.operator.entry_pauses() == []
    done = client.post("/api/v1/controls/entries", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert done.status_code == 200 and done.json()["action"] == "block_entries"
    assert [p.actor for p in board.operator.entry_pauses()] == ["ops"]


def test_without_a_token_the_controls_are_off(board: Board) -> None:
    client = client_for(board, "127.0.0.1", None)
    refused = client.post("/api/v1/controls/entries", json={"blocked": True}, headers={"Authorization": "Bearer x"})
    assert refused.status_code == 403 and "set WEB_TOKEN" in refused.json()["detail"]
    assert client.get("/api/v1/controls").json()["writable"] is False


def test_pages_carry_no_secret_and_forbid_framing(board: Board) -> None:
    client = client_for(board, "127.0.0.1", TOKEN)
    for path in ("/", "/copy", "/trades", "/controls", "/api/v1/controls", "/openapi.json", "/metrics"):
        answer = client.get(path)
        assert answer.status_code == 200 and TOKEN not in answer.text, path
        assert answer.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]
