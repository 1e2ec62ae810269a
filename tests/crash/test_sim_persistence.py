"""The simulator keeps its exchange in a state file: a reload is invisible, a kill of the simulator loses nothing.

In-process: an exchange reloaded from its file behaves exactly like a twin that never stopped (same
balances, holds, orders, trades, and the same order ids afterwards). Standalone (`python -m bot.sim
--state FILE` killed with SIGKILL and restarted): the real SDKs of all three venues find their keys,
balances and orders again, Kraken refuses a nonce it saw before the kill, and every answer a client
received before the kill is in the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import krakenex
import pytest
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from coinbase.rest import RESTClient

from bot.clock import ManualClock
from bot.sim.__main__ import main as sim_main
from bot.sim.exchange import FillTiming, SimExchange, SimOrder
from bot.sim.persistence import ClockAnchor, MarketParams, SimStateError, SimStateFile, decode_record
from bot.sim.reload import open_exchange, price_source
from bot.sim.server import SimulatorServer
from bot.sim.standalone import StandaloneSimulator, wait_for

T0 = 1_750_000_000.0
MARKET = MarketParams(seed=11, markets=6, start_time=T0 - 86_400)


def _exercise(exchange: SimExchange, clock: ManualClock, tag: str) -> None:
    """A mix of everything that changes state: fills, a resting order with a hold, a cancel, a deposit."""
    if not exchange.has_account("a"):
        exchange.create_account("a", {"USD": 5_000.0})
        exchange.create_account("b", {"USD": 800.0, "ETH": 0.5})
    exchange.place_order("a", "BTC-USD", "buy", quote_notional=1_000.0, client_order_id=f"{tag}-1")
    exchange.place_order("b", "ETH-USD", "sell", base_qty=0.2, client_order_id=f"{tag}-2")
    price = exchange.price("ETH-USD")
    exchange.place_order("a", "ETH-USD", "buy", "limit", base_qty=0.1, limit_price=round(price * 0.999, 2),
                         client_order_id=f"{tag}-rest")
    gone = exchange.place_order("b", "ETH-USD", "buy", "limit", base_qty=0.05, limit_price=round(price * 0.5, 2))
    exchange.cancel("b", gone.order_id)
    exchange.deposit("b", "USD", 25.0)
    # Accepted now, executed later (Alpaca's pending_new; a stock order queued for the open), funds on hold.
    exchange.place_order("a", "SOL-USD", "buy", quote_notional=200.0, client_order_id=f"{tag}-later",
                         timing=FillTiming(at=clock.now() + 1_800))
    clock.advance(3_600)  # the resting buy fills when the price comes down to it (or stays resting)


def _picture(exchange: SimExchange) -> dict[str, object]:
    return {
        account: (exchange.balances(account), exchange.orders(account), exchange.trades(account))
        for account in exchange.accounts()
    }


def test_a_reloaded_exchange_is_indistinguishable_from_one_that_never_stopped(tmp_path: Path) -> None:
    twin_clock, clock = ManualClock(T0), ManualClock(T0)
    twin = SimExchange(price_source(MARKET), twin_clock, seed=MARKET.seed)
    first = open_exchange(tmp_path / "sim.db", MARKET, clock=clock)
    assert not first.resumed
    for exchange, c in ((twin, twin_clock), (first.exchange, clock)):
        _exercise(exchange, c, "x")
        exchange.place_order("b", "SOL-USD", "buy", quote_notional=100.0, client_order_id="pending-at-the-kill",
                             timing=FillTiming(at=c.now() + 600))
    assert _picture(first.exchange) == _picture(twin)
    assert twin.order_by_client_id("b", "pending-at-the-kill").status == "open"  # type: ignore[union-attr]
    first.state.close()

    again = open_exchange(tmp_path / "sim.db", MarketParams(seed=99, markets=1, start_time=0), clock=clock)
    assert again.resumed and again.market == MARKET  # the file's market, whatever the caller passes
    reloaded = again.exchange
    assert _picture(reloaded) == _picture(twin)
    assert reloaded.order_by_client_id("a", "x-1") == twin.order_by_client_id("a", "x-1") is not None
    resting = [o for o in reloaded.orders("a") if o.status == "open"]
    assert [o.order_id for o in resting] == [o.order_id for o in twin.orders("a") if o.status == "open"]
    # After the reload both go on identically: same fills of resting orders, same new order and trade ids.
    for exchange, c in ((twin, twin_clock), (reloaded, clock)):
        _exercise(exchange, c, "y")
        c.advance(86_400)
    assert _picture(reloaded) == _picture(twin)
    assert len({o.order_id for o in reloaded.orders("a") + reloaded.orders("b")}) == len(
        reloaded.orders("a") + reloaded.orders("b")
    )
    again.state.close()


def test_faces_reload_their_keys_nonces_and_certificate(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    opened = open_exchange(path, MARKET, clock=ManualClock(T0))
    server = SimulatorServer(opened.exchange, faces=("kraken", "coinbase", "alpaca"), workdir=tmp_path / "files")
    with server:
        issued = {face: server.provision(face, "acct", {"USD": 100.0}) for face in server.faces}
        kraken = server.face("kraken")
        api = krakenex.API(issued["kraken"].api_key, issued["kraken"].api_secret)
        api.uri = server.url("kraken")
        assert api.query_private("Balance")["error"] == []
        seen = kraken.last_nonce(issued["kraken"].api_key)  # type: ignore[attr-defined]
        certificate = Path(server.client_settings("coinbase")["COINBASE_CA_BUNDLE"]).read_bytes()
    opened.state.close()

    reopened = open_exchange(path, MARKET, clock=ManualClock(T0))
    server = SimulatorServer(reopened.exchange, faces=("kraken", "coinbase", "alpaca"), workdir=tmp_path / "files")
    with server:
        for face, credentials in issued.items():
            assert server.provision(face, "acct", {"USD": 1.0}, reuse=True) == credentials
        assert server.face("kraken").last_nonce(issued["kraken"].api_key) == seen  # type: ignore[attr-defined]
        assert Path(server.client_settings("coinbase")["COINBASE_CA_BUNDLE"]).read_bytes() == certificate
        assert reopened.exchange.balances("acct")["USD"].total == 100.0  # not funded a second time
    reopened.state.close()


def test_a_paused_resume_continues_where_the_clock_stood_at_close(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    first = open_exchange(tmp_path / "sim.db", MARKET, clock=clock)
    first.exchange.create_account("a", {"USD": 100.0})  # the last change, at T0
    clock.advance(5_000)  # then only reads, until the close
    first.exchange.balances("a")
    first.state.close()
    again = open_exchange(tmp_path / "sim.db", MARKET, speed=600.0, resume_clock="paused")
    assert again.exchange.clock.now() == pytest.approx(T0 + 5_000, abs=600.0)  # not T0
    again.state.close()


def test_clock_anchor_continues_with_the_wall_clock_or_where_it_paused() -> None:
    anchor = ClockAnchor(sim_origin=1_000.0, wall_origin=10.0, speed=60.0, last_sim_time=1_500.0)
    assert anchor.sim_time_now("wall", wall_now=20.0) == 1_600.0
    assert anchor.sim_time_now("paused", wall_now=20.0) == 1_500.0


def test_a_foreign_or_newer_file_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "other.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE positions (x)")
    with pytest.raises(SimStateError, match="not a simulator state file"):
        SimStateFile(foreign)
    assert sim_main(["--state", str(foreign)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    newer = tmp_path / "newer.db"
    SimStateFile(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(SimStateError, match="newer simulator"):
        SimStateFile(newer)
    text = tmp_path / "notes.db"
    text.write_text("hello, this is not SQLite at all" * 10)
    with pytest.raises(SimStateError):
        SimStateFile(text)


def test_state_file_is_private(tmp_path: Path) -> None:
    SimStateFile(tmp_path / "s.db").close()
    assert (tmp_path / "s.db").stat().st_mode & 0o777 == 0o600


# ---- the standalone simulator, killed and restarted -------------------------------------------------------


class _KrakenClient(krakenex.API):
    """krakenex with a strictly increasing nonce (its own is milliseconds: two fast calls would share one)."""

    def __init__(self, key: str, secret: str) -> None:
        super().__init__(key, secret)
        self._last = time.time_ns() // 1_000

    def _nonce(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1_000)
        return self._last


def _kraken(sim: StandaloneSimulator, account: str) -> krakenex.API:
    credentials = sim.credentials()[f"kraken:{account}"]
    api = _KrakenClient(credentials["api_key"], credentials["api_secret"])
    api.uri = sim.url("kraken")
    return api


def _coinbase(sim: StandaloneSimulator, account: str) -> RESTClient:
    credentials = sim.credentials()[f"coinbase:{account}"]
    client = RESTClient(api_key=credentials["api_key"], api_secret=credentials["api_secret"],
                        base_url=sim.url("coinbase").split("://", 1)[1])
    client.session.trust_env = False
    client.session.verify = sim.client_env("coinbase")["COINBASE_CA_BUNDLE"]
    return client


def _coinbase_balances(client: RESTClient) -> list[tuple[str, str]]:
    return sorted((a["currency"], a["available_balance"]["value"]) for a in client.get_accounts()["accounts"])


def _alpaca(sim: StandaloneSimulator, account: str) -> TradingClient:
    credentials = sim.credentials()[f"alpaca:{account}"]
    return TradingClient(credentials["api_key"], credentials["api_secret"], paper=True, raw_data=True,
                         url_override=sim.url("alpaca"))


def _signed_kraken_call(
    sim: StandaloneSimulator, account: str, method: str, nonce: int, **params: str
) -> dict[str, Any]:
    """One private call with a chosen nonce (krakenex always picks its own)."""
    credentials = sim.credentials()[f"kraken:{account}"]
    path = f"/0/private/{method}"
    body = urllib.parse.urlencode({"nonce": str(nonce), **params})
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    signature = hmac.new(base64.b64decode(credentials["api_secret"]), path.encode() + digest, hashlib.sha512)
    answer = requests.post(sim.url("kraken") + path, data=body, timeout=10, headers={
        "API-Key": credentials["api_key"], "API-Sign": base64.b64encode(signature.digest()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    })
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def standalone(tmp_path: Path) -> StandaloneSimulator:
    sim = StandaloneSimulator(tmp_path / "exchange.db", faces=("kraken", "coinbase", "alpaca"),
                              accounts={"alice": 5_000.0, "bob": 700.0})
    yield sim
    sim.kill()


def test_sigkill_and_restart_keeps_keys_balances_orders_and_the_nonce_high_water_mark(
    standalone: StandaloneSimulator,
) -> None:
    sim = standalone.start()
    keys = sim.credentials()
    kraken = _kraken(sim, "alice")
    placed = kraken.query_private("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                                               "volume": "0.002", "cl_ord_id": "kr-1"})
    assert placed["error"] == [], placed
    txid = placed["result"]["txid"][0]
    coinbase = _coinbase(sim, "alice")
    made = coinbase.market_order_buy(client_order_id="cb-1", product_id="ETH-USD", quote_size="300")
    assert made.success
    alpaca = _alpaca(sim, "bob")
    alpaca_order = alpaca.submit_order(MarketOrderRequest(symbol="SOL/USD", qty=1.5, side=OrderSide.BUY,
                                                          time_in_force=TimeInForce.GTC, client_order_id="al-1"))
    # Alpaca answers pending_new and fills a moment later: wait for the fill before reading the balances.
    wait_for(lambda: alpaca.get_order_by_client_id("al-1")["status"] == "filled", 10.0, "the Alpaca fill")
    before = {
        "kraken": kraken.query_private("Balance")["result"],
        "coinbase": _coinbase_balances(coinbase),
        "alpaca": alpaca.get_account()["cash"],
    }
    last_nonce = _signed_kraken_call(sim, "alice", "Balance", 2**62)  # a high-water mark far ahead of krakenex
    assert last_nonce["error"] == []
    first_pid = sim.process.pid  # type: ignore[union-attr]

    sim.kill()
    sim.start()
    assert sim.process.pid != first_pid and sim.credentials() == keys  # type: ignore[union-attr]
    coinbase, alpaca = _coinbase(sim, "alice"), _alpaca(sim, "bob")
    # Kraken: the same nonce, or any below it, is refused after the restart; a higher one is served.
    assert _signed_kraken_call(sim, "alice", "Balance", 2**62)["error"] == ["EAPI:Invalid nonce"]
    assert _signed_kraken_call(sim, "alice", "Balance", 2**62 + 1)["result"] == before["kraken"]
    assert _coinbase_balances(coinbase) == before["coinbase"]
    queried = _signed_kraken_call(sim, "alice", "QueryOrders", 2**62 + 3, txid=txid)
    assert queried["result"][txid]["cl_ord_id"] == "kr-1"
    assert alpaca.get_account()["cash"] == before["alpaca"]
    # Orders are found by client id on every face; a repeated client id makes no second order.
    found = alpaca.get_order_by_client_id("al-1")
    assert found["id"] == alpaca_order["id"] and found["status"] == "filled"
    again = coinbase.market_order_buy(client_order_id="cb-1", product_id="ETH-USD", quote_size="300")
    assert again.success and again.success_response["order_id"] == made.success_response["order_id"]
    assert [o["client_order_id"] for o in coinbase.list_orders()["orders"]].count("cb-1") == 1


def test_every_answer_given_before_a_kill_is_in_the_file(standalone: StandaloneSimulator) -> None:
    """Orders stream in; the simulator is killed mid-stream. Each answered order is in the file, and at most
    the one in flight besides; the balances are exactly what the stored fills add up to."""
    sim = standalone.start()
    api = _kraken(sim, "alice")
    answered: list[str] = []
    refused: list[object] = []
    enough = threading.Event()

    def stream() -> None:
        for i in range(1_000):
            try:
                result = api.query_private("AddOrder", {"pair": "ETHUSD", "type": "buy", "ordertype": "market",
                                                        "volume": "0.002", "cl_ord_id": f"s-{i}"})
            except (requests.RequestException, OSError):
                return
            if result["error"]:
                refused.append(result["error"])
                enough.set()
                return
            answered.append(f"s-{i}")
            if len(answered) == 12:
                enough.set()

    client = threading.Thread(target=stream)
    client.start()
    assert enough.wait(60) and not refused, refused
    sim.kill()
    client.join(30)
    assert not client.is_alive()

    state = SimStateFile(sim.state)
    snapshot = state.exchange_snapshot()
    state.close()
    orders = [decode_record(SimOrder, text) for text in snapshot.orders]
    stored = [o.client_order_id for o in orders if o.account_id == "alice"]
    assert stored[: len(answered)] == answered
    assert len(stored) - len(answered) in (0, 1)
    spent = sum(o.cost + o.fee for o in orders if o.account_id == "alice")
    bought = sum(o.filled_base for o in orders if o.account_id == "alice")
    usd, _ = snapshot.balances["alice"]["USD"]
    eth, _ = snapshot.balances["alice"]["ETH"]
    assert usd == pytest.approx(5_000.0 - spent, abs=1e-9) and eth == pytest.approx(bought, abs=1e-12)
    sim.start()
    assert len(_kraken(sim, "alice").query_private("ClosedOrders")["result"]["closed"]) == min(len(stored), 50)


def test_faults_from_the_command_line_lose_answers_after_executing(tmp_path: Path) -> None:
    sim = StandaloneSimulator(tmp_path / "x.db", accounts={"alice": 1_000.0},
                              faults="kraken/AddOrder:drop=1;kraken/TradeBalance:5xx=1", fault_seed=3)
    with sim:
        api = _kraken(sim, "alice")
        with pytest.raises((requests.ConnectionError, ConnectionError)):
            api.query_private("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                                           "volume": "0.001", "cl_ord_id": "lost-1"})
        # The answer was lost, the order executed: it is found by its client id.
        closed = wait_for(lambda: api.query_private("ClosedOrders", {"cl_ord_id": "lost-1"})["result"]["closed"],
                          10, "the order whose answer was dropped")
        assert [o["cl_ord_id"] for o in closed.values()] == ["lost-1"]
        with pytest.raises(requests.HTTPError):
            api.query_private("TradeBalance")
        assert api.query_private("Balance")["error"] == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("binance:drop=0.1", "unknown face 'binance'"),
        ("drop=2", "drop='2'; expected a fraction from 0 to 1"),
        ("kraken/AddOrder:lose=0.1", "'lose=0.1' is not SETTING=VALUE"),
        ("latency=-1", "expected 0 or more seconds"),
        ("5xx=abc", "5xx='abc' is not a number"),
    ],
)
def test_a_bad_fault_spec_is_one_clear_line(spec: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_main(["--faults", spec]) == 2
    error = capsys.readouterr().err.strip()
    assert expected in error and error.startswith("--faults") and "\n" not in error


def test_a_bad_bar_length_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_main(["--bar-seconds", "2"]) == 2
    assert capsys.readouterr().err.strip() == "--bar-seconds 2: expected a candle length of 5 seconds or more"
