"""The Coinbase face speaks Coinbase Advanced's protocol to the real coinbase-advanced-py SDK over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from coinbase import jwt_generator
from coinbase.rest import RESTClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.faces.coinbase import CoinbaseFace
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer

START = 1_750_000_000.0


@dataclass
class CoinbaseSim:
    server: SimulatorServer
    exchange: SimExchange
    clock: ManualClock

    @property
    def face(self) -> CoinbaseFace:
        face = self.server.face("coinbase")
        assert isinstance(face, CoinbaseFace)
        return face

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port('coinbase')}"

    def client(self, credentials: Credentials) -> RESTClient:
        client = RESTClient(api_key=credentials.api_key, api_secret=credentials.api_secret, base_url=self.host)
        client.session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would win over verify
        client.session.verify = self.server.client_settings("coinbase")["COINBASE_CA_BUNDLE"]
        return client


@pytest.fixture
def sim() -> Iterator[CoinbaseSim]:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=5, n_markets=8, start_time=START), clock, seed=5)
    with SimulatorServer(exchange, faces=("coinbase",)) as server:
        yield CoinbaseSim(server, exchange, clock)


def _other_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_sdk_reads_accounts_products_and_candles_over_tls(sim: CoinbaseSim) -> None:
    credentials = sim.server.provision("coinbase", "alice", {"USD": 500.0, "ETH": 1.5})
    client = sim.client(credentials)
    accounts = {a.currency: a for a in client.get_accounts().accounts}
    assert accounts["USD"].available_balance["value"] == "500"
    assert accounts["ETH"].available_balance["value"] == "1.5"
    products = {p.product_id: p for p in client.get_products().products}
    btc = sim.exchange.markets()["BTC-USD"]
    assert products["BTC-USD"].base_min_size == f"{btc.min_base_qty:f}".rstrip("0").rstrip(".")
    assert products["BTC-USD"].base_increment == "0." + "0" * (btc.base_decimals - 1) + "1"
    end = int(START // 300 * 300)
    candles = client.get_candles("ETH-USD", start=str(end - 300 * 9), end=str(end), granularity="FIVE_MINUTE")
    starts = [int(c.start) for c in candles.candles]
    assert starts == [end - 300 * i for i in range(10)]  # newest first, the open candle included
    assert int(client.get_unix_time().epoch_seconds) == int(START)


def test_get_requests_carry_a_json_body_and_the_connection_stays_usable(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "bob", {"USD": 10.0}))
    sent: list[bytes] = []
    client.session.hooks["response"].append(lambda response, **_: sent.append(response.request.body or b""))
    for _ in range(25):  # one keep-alive connection: an unread "{}" would corrupt the next request
        assert client.get_accounts().accounts[0].currency == "USD"
    assert set(sent) == {b"{}"}


def test_wrong_key_and_unknown_key_are_refused(sim: CoinbaseSim) -> None:
    credentials = sim.server.provision("coinbase", "carol", {"USD": 10.0})
    forged = sim.client(Credentials(credentials.api_key, _other_pem(), source="TEST"))
    with pytest.raises(requests.HTTPError) as refused:
        forged.get_accounts()
    assert refused.value.response.status_code == 401
    unknown = sim.client(Credentials("organizations/x/apiKeys/y", credentials.api_secret, source="TEST"))
    with pytest.raises(requests.HTTPError) as refused:
        unknown.get_accounts()
    assert refused.value.response.json()["error_details"] == "unknown key"


def test_expired_jwt_is_refused(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "dave", {"USD": 10.0}))
    assert client.get_accounts().accounts
    sim.face.now_offset_seconds = 121.0  # the SDK's JWT lives 120 s
    with pytest.raises(requests.HTTPError) as refused:
        client.get_accounts()
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["error_details"] == "token expired"


def test_jwt_for_another_uri_is_refused(sim: CoinbaseSim) -> None:
    credentials = sim.server.provision("coinbase", "erin", {"USD": 10.0})
    bundle = sim.server.client_settings("coinbase")["COINBASE_CA_BUNDLE"]
    with requests.Session() as session:
        session.trust_env = False
        for signed_path, status in (("/api/v3/brokerage/accounts", 200), ("/api/v3/brokerage/products", 401)):
            token = jwt_generator.build_rest_jwt(f"GET {sim.host}{signed_path}", credentials.api_key,
                                                 credentials.api_secret)
            answer = session.get(f"https://{sim.host}/api/v3/brokerage/accounts", json={},
                                 headers={"Authorization": f"Bearer {token}"}, verify=bundle, timeout=5)
            assert answer.status_code == status


def test_untrusted_certificate_is_not_accepted(sim: CoinbaseSim) -> None:
    client = RESTClient(api_key="k", api_secret=_other_pem(), base_url=sim.host)
    client.session.trust_env = False  # the default CA store does not know the simulator's certificate
    with pytest.raises(requests.exceptions.SSLError):
        client.get_unix_time()


def test_refused_order_is_http_200_with_error_response(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "frank", {"USD": 20.0}))
    answer = client.market_order_buy("cid-1", "BTC-USD", quote_size="5000")
    assert answer.success is False
    assert answer.error_response["error"] == "INSUFFICIENT_FUND"
    tiny = client.market_order_sell("cid-2", "BTC-USD", base_size="0.00000001")
    assert tiny.success is False and "TOO_SMALL" in tiny.error_response["preview_failure_reason"]
    assert sim.exchange.orders("frank") == []


def test_order_round_trip_and_repeated_client_id_makes_no_second_order(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "gina", {"USD": 1_000.0}))
    first = client.market_order_buy("same-id", "ETH-USD", quote_size="100")
    again = client.market_order_buy("same-id", "ETH-USD", quote_size="100")
    assert first.success and again.success
    assert again.success_response["order_id"] == first.success_response["order_id"]
    assert len(sim.exchange.orders_by_client_id("gina", "same-id")) == 1
    order = client.get_order(first.success_response["order_id"]).order
    assert order.status == "FILLED" and order.client_order_id == "same-id"
    assert float(order.filled_size) > 0 and float(order["total_fees"]) > 0
    listed = client.list_orders(product_ids=["ETH-USD"]).orders
    assert [o.order_id for o in listed] == [order.order_id]


def test_candle_requests_over_the_limit_are_refused(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "hank", {"USD": 1.0}))
    with pytest.raises(requests.HTTPError) as refused:
        client.get_candles("BTC-USD", start=str(int(START) - 60 * 400), end=str(int(START)), granularity="ONE_MINUTE")
    assert refused.value.response.status_code == 400


def test_forced_rate_limit_and_5xx_faults_look_like_coinbase(sim: CoinbaseSim) -> None:
    client = sim.client(sim.server.provision("coinbase", "ivan", {"USD": 100.0}))
    sim.exchange.faults.set(face="coinbase", endpoint="ListAccounts", forced_error="RATE_LIMIT_EXCEEDED")
    with pytest.raises(requests.HTTPError) as refused:
        client.get_accounts()
    assert refused.value.response.status_code == 429
    sim.exchange.faults.set(face="coinbase", endpoint="ListAccounts", http_5xx_rate=1.0)
    with pytest.raises(requests.HTTPError) as failed:
        client.get_accounts()
    assert failed.value.response.status_code == 503
    assert sim.exchange.faults.counts == {"error": 1, "http_5xx": 1}
