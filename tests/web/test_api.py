"""The REST API, /healthz and /metrics over a real paper run's store, served read-only as `python bot.py web`
serves it (FastAPI's test client; /metrics read back with prometheus_client's own parser)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import Settings, load_settings
from bot.state.operator import OperatorStore
from bot.state.readmodel import ReadModel
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate
from bot.web.board import Board
from bot.web.metrics import Metrics
from tests.web.conftest import Traded


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings({}, env_file=None)


@pytest.fixture(scope="module")
def client(traded: Traded, settings: Settings) -> Iterator[TestClient]:
    read, operator = ReadModel(traded.path), OperatorStore(traded.path, read_only=True)
    board = Board(read, operator, settings)
    app = create_app(board, Gate("127.0.0.1", None), Metrics(board), WebOptions(False, 2.0, 300.0))
    with TestClient(app) as test_client:
        yield test_client
    read.close()
    operator.close()


def test_accounts_list_every_account_with_state_money_pnl_and_health(client: TestClient) -> None:
    answer = client.get("/api/v1/accounts")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    accounts = {a["label"]: a for a in answer.json()}
    assert set(accounts) == {"kraken:master", "kraken:demo_user_1", "kraken:demo_user_2"}
    master, follower = accounts["kraken:master"], accounts["kraken:demo_user_1"]
    assert (master["state"], master["role"], master["follows"]) == ("TRADING", "master", None)
    assert (follower["state"], follower["follows"]) == ("FOLLOWING", "kraken:master")
    trades = client.get("/api/v1/trades", params={"account_id": "master"}).json()
    assert master["trades"] == len(trades) >= 1
    assert master["realised_pnl"] == pytest.approx(sum(t["realised_pnl"] for t in trades))
    assert master["pnl_total"] == pytest.approx(master["realised_pnl"])  # flat: nothing unrealised
    assert master["health"]["status"] == "healthy" and master["health"]["last_cycle_at"] is not None
    for key in ("equity", "cash", "realised_pnl_today", "fees", "reason", "fix", "entries_paused", "positions"):
        assert key in master


def test_one_account_has_its_trades_equity_curve_and_copies(client: TestClient, traded: Traded) -> None:
    detail = client.get("/api/v1/accounts/kraken/demo_user_1").json()
    assert detail["account"]["label"] == "kraken:demo_user_1"
    assert detail["trades"] and all(t["account_id"] == "demo_user_1" for t in detail["trades"])
    curve = detail["equity_curve"]
    assert len(curve) >= 3 and [p["time"] for p in curve] == sorted(p["time"] for p in curve)
    assert curve[0]["time"] >= traded.started_at
    assert detail["copies"] and all(any(c["follower_id"] == "demo_user_1" for c in s["copies"])
                                    for s in detail["copies"])
    assert client.get("/api/v1/accounts/kraken/nobody").status_code == 404


def test_signals_carry_every_followers_outcome_and_tracking_sets_them_beside_the_master(client: TestClient) -> None:
    signals = client.get("/api/v1/signals", params={"broker": "kraken"}).json()
    assert signals and {s["side"] for s in signals} == {"buy", "sell"}
    for signal in signals:
        assert [c["follower_id"] for c in signal["copies"]] == ["demo_user_1", "demo_user_2"]
        for copy in signal["copies"]:  # every copy final, with its arithmetic or why not
            assert copy["status"] in ("filled", "skipped") and copy["reason"]
            assert (copy["latency_seconds"] is not None) == (copy["status"] == "filled")
    first = signals[-1]  # the oldest: the master's first entry, copied by both
    assert first["side"] == "buy" and {c["status"] for c in first["copies"]} == {"filled"}
    assert len(client.get("/api/v1/signals", params={"limit": 1}).json()) == 1
    tracking = {r["follower_id"]: r for r in client.get("/api/v1/tracking").json()}
    assert set(tracking) == {"demo_user_1", "demo_user_2"}
    for row in tracking.values():
        assert row["matched_trades"] >= 1 and row["tracking_difference_pct"] is not None
        assert row["follower_equity_return_pct"] is not None and row["master_equity_return_pct"] is not None
        assert row["equity_tracking_difference_pct"] == pytest.approx(
            row["follower_equity_return_pct"] - row["master_equity_return_pct"])


def test_trades_since_and_bad_since(client: TestClient) -> None:
    everything = client.get("/api/v1/trades").json()
    latest = max(t["closed_at"] for t in everything)
    assert client.get("/api/v1/trades", params={"since": latest + 1}).json() == []
    assert len(client.get("/api/v1/trades", params={"since": latest}).json()) >= 1
    bad = client.get("/api/v1/trades", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "expected a date" in bad.json()["detail"]


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/accounts", "/api/v1/accounts/{broker}/{account_id}", "/api/v1/positions",
                 "/api/v1/trades", "/api/v1/signals", "/api/v1/tracking", "/api/v1/health", "/api/v1/controls",
                 "/api/v1/controls/entries", "/api/v1/controls/accounts/{broker}/{account_id}", "/healthz",
                 "/metrics"):
        assert path in paths, path
    assert client.get("/docs").status_code == 200


def test_healthz_of_a_viewer_says_no_bot_runs_and_controls_are_off(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["ok"] is False and body["problems"][0].startswith("no bot is running: STOPPED at")
    controls = client.get("/api/v1/controls").json()
    assert controls["writable"] is False and "read-only viewer" in controls["why_not"]
    refused = client.post("/api/v1/controls/entries", json={"blocked": True})
    assert refused.status_code == 403 and "read-only viewer" in refused.json()["detail"]


def test_metrics_parse_and_agree_with_the_store(client: TestClient, traded: Traded) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    for name in ("nija_bot_running", "nija_account_equity_usd", "nija_account_cash_usd", "nija_open_positions",
                 "nija_account_state", "nija_account_health", "nija_orders", "nija_fills", "nija_copies",
                 "nija_copy_latency_seconds", "nija_errors", "nija_exchange_call_seconds", "nija_realised_pnl_usd"):
        assert name in families, name
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    accounts = {a["account_id"]: a for a in client.get("/api/v1/accounts").json()}
    for account_id, account in accounts.items():
        labels = (("account", account_id), ("broker", "kraken"))
        assert values[("nija_account_equity_usd", labels)] == pytest.approx(account["equity"])
        assert values[("nija_account_state", (*labels, ("state", account["state"])))] == 1.0
    assert values[("nija_bot_running", (("mode", "paper"),))] == 0.0
    buys = values[("nija_fills_total", (("account", "master"), ("broker", "kraken"), ("side", "buy")))]
    assert buys == len([s for s in client.get("/api/v1/signals").json() if s["side"] == "buy"])
    copies = values[("nija_copy_latency_seconds_count", (("broker", "kraken"),))]
    assert copies == sum(len(s["copies"]) for s in client.get("/api/v1/signals").json())


def test_errors_are_counted_by_kind_and_exchange_calls_by_outcome(traded: Traded, settings: Settings) -> None:
    read, operator = ReadModel(traded.path), OperatorStore(traded.path, read_only=True)
    metrics = Metrics(Board(read, operator, settings))
    logger = logging.getLogger("tests.web.errors")
    logger.addHandler(metrics.error_handler)
    try:
        try:
            raise TimeoutError("exchange took too long")
        except TimeoutError:
            logger.exception("pass failed", extra={"account": "kraken:demo_user_1"})
        logger.error("no exception here", extra={"account": "kraken:master"})
        logger.warning("not an error")
    finally:
        logger.removeHandler(metrics.error_handler)
    metrics.exchange_call("kraken", "AddOrder", 0.12, "ok")
    metrics.exchange_call("kraken", "AddOrder", 3.0, "timeout")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
               for s in f.samples}
    assert samples[("nija_errors_total", (("account", "kraken:demo_user_1"), ("kind", "TimeoutError")))] == 1
    assert samples[("nija_errors_total", (("account", "kraken:master"), ("kind", "logged")))] == 1
    ok = (("broker", "kraken"), ("endpoint", "AddOrder"), ("outcome", "ok"))
    assert samples[("nija_exchange_call_seconds_count", ok)] == 1
    assert samples[("nija_exchange_call_seconds_bucket", (*ok[:2], ("le", "0.25"), ok[2]))] == 1
    read.close()
    operator.close()
