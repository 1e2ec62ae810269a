"""Exchange endpoints, timeouts and client-side limits shared by the adapters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExchangeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
