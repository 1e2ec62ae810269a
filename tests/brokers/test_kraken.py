"""Kraken specifics over real HTTP with real krakenex: signatures, nonces, rate limits, names, precision."""

from __future__ import annotations

import gc
import stat
import threading
import time
from decimal import Decimal
from pathlib import Path

import krakenex
import pytest

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import (
    AuthenticationError,
    ExchangeUnavailable,
    NonceError,
    OrderRejected,
    RateLimitError,
)
from bot.brokers.factory import make_broker
from bot.brokers.http import form_encode
from bot.brokers.kraken import KrakenBroker
from bot.brokers.kraken_nonce import BOOT_ID, KeyFile, KeyState, nonce_path
from bot.brokers.kraken_symbols import KrakenSymbols
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Role
from bot.sim.clock import SimClock
from tests.brokers.conftest import ContractEnv


def _raw(env: ContractEnv, key: str, secret: str) -> krakenex.API:
    api = krakenex.API(key, secret)
    api.uri = env.server.url("kraken")
    return api


def test_simulator_enforces_key_signature_and_nonce(kraken: ContractEnv) -> None:
    good = kraken.provision("acct", {"USD": 10.0})
    other = kraken.provision("other", {"USD": 10.0})
    assert _raw(kraken, good.api_key, good.api_secret).query_private("Balance")["error"] == []
    assert _raw(kraken, good.api_key, other.api_secret).query_private("Balance")["error"] == ["EAPI:Invalid signature"]
    assert _raw(kraken, "unknown-key", good.api_secret).query_private("Balance")["error"] == ["EAPI:Invalid key"]

    class FixedNonce(krakenex.API):
        def _nonce(self) -> int:
            return 42

    fixed = FixedNonce(other.api_key, other.api_secret)
    fixed.uri = kraken.server.url("kraken")
    assert fixed.query_private("Balance")["error"] == []
    assert fixed.query_private("Balance")["error"] == ["EAPI:Invalid nonce"]  # reused


def test_eight_threads_on_one_key_never_get_invalid_nonce(kraken: ContractEnv) -> None:
    broker = kraken.broker("acct")
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(100):
            try:
                broker.balances()
            except BaseException as error:  # recorded, the assertion below names it
                errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    face = kraken.server.face("kraken")
    assert face.rejected.get("EAPI:Invalid nonce", 0) == 0  # type: ignore[attr-defined]
    assert face._keys[kraken.accounts["acct"].api_key].calls >= 800  # type: ignore[attr-defined]


def test_different_keys_run_in_parallel(kraken: ContractEnv) -> None:
    brokers = [kraken.broker(f"user{i}") for i in range(4)]
    latency, calls = 0.05, 8
    kraken.exchange.faults.set(face="kraken", endpoint="BalanceEx", latency=latency)
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work(broker: KrakenBroker) -> None:
        start = time.perf_counter()
        for _ in range(calls):
            broker.balances()
        with lock:
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(b,)) for b in brokers]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - started
    serial = len(brokers) * calls * latency
    assert total < 0.6 * serial, f"{total:.2f}s for work that takes {serial:.2f}s one key at a time"
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # every key's run overlapped every other's


def test_thousand_orders_with_lost_acks_and_5xx_exist_exactly_once(kraken: ContractEnv) -> None:
    broker = kraken.broker("whale", {"USD": 1_000_000.0})
    broker.markets()
    kraken.exchange.faults.reseed(1234)
    kraken.exchange.faults.set(face="kraken", endpoint="AddOrder", drop_after_execute_rate=0.10, http_5xx_rate=0.05)
    intended: list[str] = []
    for _ in range(1000):
        request = OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("10"))
        intended.append(request.client_order_id)
        result = broker.place_order(request)
        while result.status is OrderStatus.IN_FLIGHT:  # what the trader does: settle, resend only if absent
            found = broker.get_order(request.client_order_id, request.symbol)
            result = found if found is not None else broker.place_order(request)
        assert result.status is OrderStatus.FILLED, result
    counts = kraken.exchange.faults.counts
    assert counts.get("drop", 0) > 50 and counts.get("http_5xx", 0) > 20  # the faults really happened
    per_id = {cid: len(kraken.exchange.orders_by_client_id("whale", cid)) for cid in intended}
    assert set(per_id.values()) == {1}
    assert len(kraken.exchange.orders("whale")) == 1000


def test_restart_with_same_state_dir_never_reuses_a_nonce(kraken: ContractEnv) -> None:
    # A clock that does not move: without the persisted high-water mark, the restarted adapter
    # would derive the same nonces again and the simulator would refuse them.
    first = kraken.broker("acct")
    for _ in range(3):
        first.balances()
    last = first.last_nonce
    first.close()
    del first
    gc.collect()
    second = kraken.broker("acct")
    second.balances()
    assert second.last_nonce > last
    assert kraken.server.face("kraken").rejected.get("EAPI:Invalid nonce", 0) == 0  # type: ignore[attr-defined]


def test_client_rate_limiter_waits_instead_of_being_refused(kraken: ContractEnv) -> None:
    fast = SimClock(kraken.clock.now(), speed=200.0)  # Starter's 0.33/s drains at 66/s: the test stays short
    kraken.exchange.clock = fast
    face = kraken.server.face("kraken")
    burst = kraken.server.provision("kraken", "burst", {"USD": 10.0})
    face.set_rate_limit(burst.api_key, 15.0, 0.33)  # type: ignore[attr-defined]
    raw = _raw(kraken, burst.api_key, burst.api_secret)
    assert sum(bool(raw.query_private("Balance")["error"]) for _ in range(60)) > 0  # the simulator enforces it

    credentials = kraken.server.provision("kraken", "acct", {"USD": 10.0})
    face.set_rate_limit(credentials.api_key, 15.0, 0.33)  # type: ignore[attr-defined]
    before = face.rejected.get("EAPI:Rate limit exceeded", 0)  # type: ignore[attr-defined]
    account = AccountConfig("kraken", "acct", Role.MASTER, "acct", credentials=credentials)
    settings = kraken.settings(kraken_rate_counter_max="15", kraken_rate_decay_per_second="0.33")
    broker = make_broker(account, settings, fast, kraken.tmp / "brokers")
    for _ in range(60):
        broker.balances()
    assert face.rejected.get("EAPI:Rate limit exceeded", 0) == before  # type: ignore[attr-defined]
    assert broker.limiter.waited_seconds > 0  # type: ignore[attr-defined]


def test_a_rate_limit_refusal_fills_the_counter_in_the_key_file(kraken: ContractEnv) -> None:
    # Kraken's refusal says the counter is full; a restarted bot, or a script beside it, reads the counter from the
    # key's file, so the refusal must reach the file, not only this request's held state.
    credentials = kraken.provision("acct", {"USD": 10.0})
    kraken.server.face("kraken").set_rate_limit(credentials.api_key, 2.0, 0.001)  # type: ignore[attr-defined]
    broker = kraken.broker("acct", kraken_rate_counter_max="50", kraken_rate_decay_per_second="0.001",
                           kraken_rate_headroom="0")  # our limiter thinks there is room: Kraken refuses first
    with pytest.raises(RateLimitError):
        for _ in range(10):
            broker.balances()
    state = KeyFile(nonce_path(credentials.api_key, kraken.tmp / "brokers")).read()
    assert state.counter >= 50


def test_symbols_map_kraken_names_both_ways(kraken: ContractEnv) -> None:
    broker = kraken.broker()
    names: KrakenSymbols = broker.symbols()  # type: ignore[attr-defined]
    assert broker.market("BTC-USD").exchange_symbol == "XXBTZUSD"
    assert names.symbol_of_pair("XBTUSD") == names.symbol_of_pair("XBT/USD") == "BTC-USD"
    assert names.symbol_of_pair("XDGUSD") == "DOGE-USD"
    assert broker.market("SOL-USD").exchange_symbol == "SOLUSD"
    assert (names.asset("XXBT"), names.asset("ZUSD"), names.asset("XXDG"), names.asset("SOL")) == (
        "BTC", "USD", "DOGE", "SOL",
    )


def test_precision_and_minimums_from_asset_pairs(kraken: ContractEnv) -> None:
    broker = kraken.broker("acct", {"USD": 1_000.0, "SHIB": 1_000_000.9})
    shib = broker.market("SHIB-USD")
    assert shib.base_decimals == 0 and shib.floor_qty(Decimal("400000.99")) == 400_000
    sold = broker.place_order(OrderRequest("SHIB-USD", Side.SELL, new_client_order_id(), base_qty=Decimal("400000.99")))
    assert sold.status is OrderStatus.FILLED and sold.filled_base == 400_000
    tiny = broker.place_order(OrderRequest("SHIB-USD", Side.SELL, new_client_order_id(), base_qty=Decimal("299999")))
    assert tiny.status is OrderStatus.REJECTED and "minimum" in tiny.reason
    btc = broker.market("BTC-USD")
    with pytest.raises(OrderRejected, match="minimum"):
        broker.prepare_order(
            OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), base_qty=btc.min_base_qty / 2), 95_000.0
        )
    assert [o.base_qty for o in kraken.exchange.orders("acct")] == [400_000]  # the refused one was never sent
    # krakenex's own nonces are milliseconds: two calls within one millisecond would share one, so a key per call.
    for name, order, error in (
        ("raw1", {"pair": "SHIBUSD", "type": "sell", "ordertype": "market", "volume": "300000.5"},
         "EGeneral:Invalid arguments:volume"),
        ("raw2", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.00001"},
         "EOrder:Order minimum not met"),
    ):
        other = kraken.provision(name, {"USD": 1_000.0, "SHIB": 1_000_000.0})
        assert _raw(kraken, other.api_key, other.api_secret).query_private("AddOrder", order)["error"] == [error]


def test_manual_clock_is_used_for_nonces(kraken: ContractEnv) -> None:
    assert isinstance(kraken.clock, ManualClock)
    broker = kraken.broker()
    broker.balances()
    assert broker.last_nonce >= int(kraken.clock.now() * 1_000_000)


@pytest.mark.parametrize(
    ("forced", "expected"),
    [
        ("EAPI:Invalid nonce", NonceError),
        ("EAPI:Rate limit exceeded", RateLimitError),
        ("EService:Unavailable", ExchangeUnavailable),
        ("EGeneral:Permission denied", AuthenticationError),
    ],
)
def test_forced_kraken_errors_are_classified(kraken: ContractEnv, forced: str, expected: type) -> None:
    broker = kraken.broker()
    broker.markets()
    kraken.exchange.faults.set(face="kraken", endpoint="BalanceEx", forced_error=forced)
    with pytest.raises(expected):
        broker.balances()
    kraken.exchange.faults.clear()
    assert broker.balances().cash_total == pytest.approx(10_000.0)  # the account recovers once Kraken does


def test_invalid_nonce_resyncs_and_read_only_call_retries_once(kraken: ContractEnv) -> None:
    broker = kraken.broker()
    broker.balances()
    before = broker.last_nonce  # type: ignore[attr-defined]
    kraken.exchange.faults.reseed(3)
    kraken.exchange.faults.set(face="kraken", endpoint="BalanceEx", forced_error="EAPI:Invalid nonce", error_rate=0.5)
    outcomes = []
    for _ in range(20):
        try:
            broker.balances()
            outcomes.append("ok")
        except NonceError:
            outcomes.append("nonce")
    assert outcomes.count("ok") > outcomes.count("nonce")  # one retry absorbs most single refusals
    assert broker.last_nonce - before >= 1_000_000  # type: ignore[attr-defined]  # jumped by the resync step


def test_order_refused_by_forced_error_is_not_resent_blindly(kraken: ContractEnv) -> None:
    broker = kraken.broker()
    broker.markets()
    kraken.exchange.faults.set(face="kraken", endpoint="AddOrder", forced_error="EService:Unavailable")
    request = OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("20"))
    result = broker.place_order(request)
    assert result.status is OrderStatus.IN_FLIGHT  # unknown is never "rejected"
    assert kraken.exchange.orders("acct") == []
    kraken.exchange.faults.clear()
    assert broker.get_order(request.client_order_id, "BTC-USD") is None
    assert broker.place_order(request).status is OrderStatus.FILLED
    assert len(kraken.exchange.orders_by_client_id("acct", request.client_order_id)) == 1


def test_environment_proxy_and_ca_bundle_do_not_reach_kraken(
    kraken: ContractEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sessions skip requests' per-call env lookups (the fan-out's CPU cost), still verifying certificates."""
    broker = kraken.broker("acct", {"USD": 10.0})
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a dead proxy: used, every call would fail
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    assert broker.balances().cash_total == pytest.approx(10.0)
    for api in (broker._public_api, broker._private_api):
        assert api.session.trust_env is False
        assert api.session.verify is True


def test_presigned_secret_matches_krakenex_signature(kraken: ContractEnv) -> None:
    credentials = kraken.provision("signer", {"USD": 1.0})
    broker = kraken.broker("signer")
    data = {"nonce": 1234567, "pair": "XBTUSD", "volume": "0.01"}
    reference = krakenex.API(credentials.api_key, credentials.api_secret)
    path = "/0/private/AddOrder"
    signed = broker._private_api._signature(path, data["nonce"], form_encode(data))
    assert signed == reference._sign(dict(data), path)


def test_key_file_reads_what_another_holder_wrote(tmp_path: Path) -> None:
    # A key file remembers the bytes it last read or wrote so that an unchanged file is not parsed again on every
    # private call; whatever another holder (another process has its own KeyFile) wrote since must still be read.
    path = tmp_path / "kraken" / "nonce-test.json"
    mine, theirs = KeyFile(path), KeyFile(path)
    assert mine.read() == KeyState(boot=BOOT_ID)  # a new, empty file
    mine.write(KeyState(last=10, reserved=100, counter=1.5, counter_clock=2.0, counter_wall=3.0, boot=BOOT_ID),
               durable=False)
    assert theirs.read().last == 10
    theirs.write(KeyState(last=11, reserved=200, counter=0.25, boot=BOOT_ID), durable=True)
    assert mine.read() == KeyState(last=11, reserved=200, counter=0.25, boot=BOOT_ID)
    assert mine.read() == KeyFile(path).read()  # the remembered state is what a fresh parse of the file gives
    with open(path, "r+b") as handle:  # another writer left something this version cannot read
        handle.write(b"{not json".ljust(64))
    with pytest.raises(RuntimeError, match="unreadable Kraken nonce file"):
        mine.read()


def test_key_files_are_private(tmp_path: Path) -> None:
    # The key's file says which key is in use and how busy it is: only its owner may read it, whatever it was before.
    new = tmp_path / "kraken" / "nonce-new.json"
    KeyFile(new)
    loose = tmp_path / "kraken" / "nonce-loose.json"
    loose.write_text("")
    loose.chmod(0o644)
    KeyFile(loose)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (new, loose)} == {0o600}
    assert stat.S_IMODE(new.parent.stat().st_mode) == 0o700
