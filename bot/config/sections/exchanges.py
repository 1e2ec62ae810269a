"""Exchange endpoints, timeouts and client-side limits shared by the adapters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class ExchangeSettings(SettingsSection):
    kraken_api_url: str = Field("https://api.kraken.com", description="a URL like https://api.kraken.com")
    coinbase_api_url: str = Field(
        "api.coinbase.com", description="a host[:port] without scheme, like api.coinbase.com"
    )
    coinbase_ca_bundle: str | None = Field(
        None, description="a path to a CA bundle for COINBASE_API_URL (simulator only)"
    )
    alpaca_api_url: str | None = Field(
        None, description="a URL like https://paper-api.alpaca.markets, or unset for the SDK default"
    )
    alpaca_data_url: str | None = Field(
        None, description="a URL like https://data.alpaca.markets, or unset for the SDK default"
    )
    exchange_timeout_seconds: float = Field(15.0, gt=0, le=120, description="seconds, above 0 and at most 120")
    kraken_rate_tier: Literal["Starter", "Intermediate", "Pro"] = Field(
        "Starter", description="Starter, Intermediate or Pro (your Kraken verification tier)"
    )
    order_lookup_attempts: int = Field(
        5, ge=1, le=50, description="how many times to look up an order whose outcome is unknown (1-50)"
    )
    order_lookup_delay_seconds: float = Field(
        1.0, ge=0, le=60, description="seconds between order look-ups (0-60)"
    )
    # A request that hung may still be executed after our client gave up: keep this over EXCHANGE_TIMEOUT_SECONDS.
    unknown_order_grace_seconds: float = Field(
        120.0, gt=0, le=86_400,
        description="seconds before a sent order the exchange does not know counts as never placed (0-86400)",
    )
    order_settle_first_seconds: float = Field(
        2.0, gt=0, le=600,
        description="seconds before an order not final yet is first looked up again (doubles each time; above 0)",
    )
    order_settle_max_seconds: float = Field(
        60.0, gt=0, le=3600, description="the longest wait between two look-ups of an order not final yet, in seconds"
    )
    alpaca_sdk_retries: int = Field(
        3, ge=0, le=10, description="times alpaca-py itself resends a call answered 429/504 (0-10)"
    )
    alpaca_sdk_retry_wait_seconds: float = Field(
        3.0, ge=0, le=60, description="seconds alpaca-py waits before each of its own resends (0-60)"
    )
    alpaca_min_notional: float = Field(
        1.0, ge=0, le=10_000, description="USD, the smallest Alpaca order value (0-10000)"
    )
    # Taker fees, the lowest-volume tier of each brokerage's published schedule (docs/strategy.md, "Fees"): the
    # one set of fee numbers. The backtest charges them; live trading prefers the fee the exchange's market list
    # reports for the account (MarketInfo.taker_fee) and falls back to these.
    kraken_taker_fee: float = Field(
        0.004, ge=0, le=0.05, description="a fraction like 0.004 for Kraken's taker fee (0-0.05)"
    )
    coinbase_taker_fee: float = Field(
        0.006, ge=0, le=0.05, description="a fraction like 0.006 for Coinbase Advanced's taker fee (0-0.05)"
    )
    alpaca_crypto_taker_fee: float = Field(
        0.0025, ge=0, le=0.05, description="a fraction like 0.0025 for Alpaca's crypto taker fee (0-0.05)"
    )
    alpaca_stock_taker_fee: float = Field(0.0, ge=0, le=0.05, description="a fraction for Alpaca stock fees (0-0.05)")
    alpaca_stock_qty_decimals: int = Field(
        9, ge=0, le=9, description="share decimals Alpaca accepts for fractionable stocks (0-9)"
    )
    alpaca_stock_price_decimals: int = Field(2, ge=0, le=6, description="price decimals for Alpaca stocks (0-6)")
    kraken_rate_counter_max: float | None = Field(
        None, gt=0, le=1e9, description="Kraken rate counter ceiling (0-1e9), or unset to use KRAKEN_RATE_TIER's"
    )
    kraken_rate_decay_per_second: float | None = Field(
        None, gt=0, le=1e9,
        description="Kraken rate counter decay per second (0-1e9), or unset to use KRAKEN_RATE_TIER's",
    )
    kraken_nonce_reserve: int = Field(
        60_000_000, ge=1, le=3_600_000_000,
        description="nonces (microseconds) reserved on disk ahead of use, a whole number from 1 to 3600000000",
    )
    kraken_nonce_resync_step: int = Field(
        1_000_000, ge=1, le=3_600_000_000,
        description="how far (microseconds) to jump the nonce after EAPI:Invalid nonce (1-3600000000)",
    )
    kraken_rate_headroom: float = Field(
        1.0, ge=0, le=100, description="calls of Kraken's rate counter left unused for network jitter (0-100)"
    )
    kraken_price_max_age_seconds: float = Field(
        5.0, ge=0, le=300,
        description="seconds a Kraken price read by one account values every account's holdings (0-300, 0: off)",
    )
