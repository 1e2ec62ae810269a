"""The adapter contract (tests/brokers/contract.py) for each brokerage: how to reach its face, and how it differs."""

from __future__ import annotations

import base64
from typing import ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.config.accounts import Credentials
from bot.sim.prices import PriceSource
from tests.brokers.conftest import BROKERAGES, Brokerage
from tests.brokers.contract import AdapterContract
from tests.sim.test_alpaca_face import MONDAY_10AM_NEW_YORK, with_stocks

HOUR = 3600.0


class TestKrakenContract(AdapterContract):
    brokerage = BROKERAGES["kraken"]
    balances_endpoint = "BalanceEx"
    rate_limit_error = "EAPI:Rate limit exceeded"

    def refused_keys(self, real: Credentials) -> dict[str, Credentials]:
        return {
            "EAPI:Invalid signature": Credentials(real.api_key, base64.b64encode(b"wrong secret" * 6).decode(), "T"),
            "EAPI:Invalid key": Credentials(base64.b64encode(b"unknown key" * 4).decode(), real.api_secret, "T"),
        }


class TestCoinbaseContract(AdapterContract):
    brokerage = BROKERAGES["coinbase"]
    balances_endpoint = "ListAccounts"
    rate_limit_error = "RATE_LIMIT_EXCEEDED"

    def refused_keys(self, real: Credentials) -> dict[str, Credentials]:
        other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption(),
        ).decode()
        return {
            "401 a key the JWT was not signed with": Credentials(real.api_key, other, "T"),
            "401 an unknown key name": Credentials("organizations/o/apiKeys/unknown", real.api_secret, "T"),
        }


class TestAlpacaContract(AdapterContract):
    brokerage: ClassVar[Brokerage] = BROKERAGES["alpaca"]
    balances_endpoint = "get_account"
    rate_limit_error = "429"
    fills_in_the_answer = False  # pending_new, filled a moment later
    fee_from_coin_on_buys = True
    partial_fills = True
    stock_symbol = "MSFT-USD"
    stock_hours = (MONDAY_10AM_NEW_YORK, MONDAY_10AM_NEW_YORK + 7 * HOUR, MONDAY_10AM_NEW_YORK + 24 * HOUR)

    def start_time(self) -> float:
        return MONDAY_10AM_NEW_YORK

    def price_source(self) -> PriceSource:
        return with_stocks(seed=7, start=self.start_time(), n_markets=24)

    def refused_keys(self, real: Credentials) -> dict[str, Credentials]:
        return {
            "401 request is not authorized": Credentials("PKUNKNOWNKEY00000000", real.api_secret, "T", paper=True),
            "403 forbidden.": Credentials(real.api_key, "x" * 40, "T", paper=True),
        }
