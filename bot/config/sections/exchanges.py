"""Exchange endpoints, timeouts and client-side limits shared by the adapters.

Endpoint URLs are checked when the settings load (docs/rules.md §6): a scheme, a host, an optional
port and no path, because each SDK appends its own API path (krakenex ``/0/...``, alpaca-py
``/v2/...``, coinbase-advanced-py ``/api/v3/brokerage/...`` after the ``https://`` it adds itself).
A value that would only fail at the first call ("answered HTTP 404", ``InvalidURL``) is refused at
start with one line naming the variable and the right form. Plain http is accepted only for a
loopback host (the simulator): anywhere else it would send API keys unencrypted.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from bot.config.sections.base import SettingsSection

# The path each SDK adds itself; a URL that repeats it would be sent to .../0/0/public/Time and the like.
SDK_PATHS = {
    "kraken_api_url": ("/0", "krakenex adds /0/public and /0/private itself"),
    "coinbase_api_url": ("/api/v3/brokerage", "the SDK adds /api/v3/brokerage itself"),
    "alpaca_api_url": ("/v2", "alpaca-py adds /v2 itself"),
    "alpaca_data_url": ("/v2", "alpaca-py adds /v2 and /v1beta3 itself"),
}
# Where alpaca-py sends orders when ALPACA_API_URL is unset.
ALPACA_DEFAULT_HOSTS = {True: "paper-api.alpaca.markets", False: "api.alpaca.markets"}


def alpaca_paper(key_is_paper: bool, live_trading: bool) -> bool:
    """Whether an Alpaca key trades on the paper account: never the live one unless LIVE_TRADING=true, whatever
    the key's PAPER flag says. The adapter and the live banner both read this one rule."""
    return key_is_paper or not live_trading


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost: this machine (the simulator), never a real exchange."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(problem: str) -> PydanticCustomError:
    """The refusal; the settings loader adds the variable, its value and the field's description (the right form)."""
    return PydanticCustomError("exchange_url", problem.replace("{", "(").replace("}", ")"))


def checked_url(field: str, value: str, *, scheme_optional: bool = False) -> str:
    """The URL as the SDK needs it (no trailing slash), or the refusal with the right form (see the module doc)."""
    sdk_path, why = SDK_PATHS[field]
    text = value.strip()
    has_scheme = "://" in text
    if not has_scheme and not scheme_optional:
        raise _refuse("no scheme (http:// or https://)")
    parts = urllib.parse.urlsplit(text if has_scheme else f"https://{text}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse(f"the scheme {scheme!r} is not http or https")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _refuse("the port is not a number from 1 to 65535") from None
    if not host or parts.username or parts.password:
        raise _refuse("no host name (or a user name in it)")
    if port == 0:
        raise _refuse("the port is not a number from 1 to 65535")
    path = parts.path.rstrip("/")
    if path:
        advice = f"drop {path} ({why})" if path.startswith(sdk_path) else f"drop the path {path}"
        raise _refuse(advice)
    if parts.query or parts.fragment:
        raise _refuse("drop the ?query or #fragment")
    if scheme_optional and scheme == "http":
        raise _refuse("the SDK always speaks https")
    if scheme == "http" and not is_loopback(host):
        raise _refuse("plain http would send the API key unencrypted (http is for the simulator on 127.0.0.1 "
                      "only)")
    return parts.netloc if scheme_optional else f"{scheme}://{parts.netloc}"


def describe_destination(url: str) -> str:
    """Where an endpoint really is, for the start-up banner: a host, or the simulator on this machine."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or url
    if is_loopback(host):
        return f"the simulator at {parts.netloc} (this machine, not a real exchange)"
    return parts.netloc


class ExchangeSettings(SettingsSection):
    kraken_api_url: str = Field(
        "https://api.kraken.com",
        description="a URL with scheme and host and no path, like https://api.kraken.com",
    )
    coinbase_api_url: str = Field(
        "api.coinbase.com",
        description="a host[:port] like api.coinbase.com (the SDK adds https:// and /api/v3/brokerage)",
    )
    coinbase_ca_bundle: str | None = Field(
        None, description="a path to a CA bundle for COINBASE_API_URL (simulator only)"
    )
    alpaca_api_url: str | None = Field(
        None, description="a URL like https://paper-api.alpaca.markets (no /v2), or unset for the SDK default"
    )
    alpaca_data_url: str | None = Field(
        None, description="a URL like https://data.alpaca.markets (no /v2), or unset for the SDK default"
    )

    @field_validator("kraken_api_url", "alpaca_api_url", "alpaca_data_url")
    @classmethod
    def _url(cls, value: str | None, info: object) -> str | None:
        return None if value is None else checked_url(str(getattr(info, "field_name", "")), value)

    @field_validator("coinbase_api_url")
    @classmethod
    def _host(cls, value: str) -> str:
        return checked_url("coinbase_api_url", value, scheme_optional=True)

    def destination(self, broker: str, *, alpaca_paper: bool = True) -> str:
        """Where `broker`'s orders go with these settings (the banner says it before anything is sent)."""
        if broker == "kraken":
            return describe_destination(self.kraken_api_url)
        if broker == "coinbase":
            return describe_destination(self.coinbase_api_url)
        if broker == "alpaca":
            url = self.alpaca_api_url
            return describe_destination(url) if url else ALPACA_DEFAULT_HOSTS[alpaca_paper]
        raise ValueError(f"no exchange endpoint for brokerage {broker!r}")
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
    # 0: alpaca-py waits between its own resends in time.sleep, which a stop cannot cut short (a stop must end
    # within 5 s: docs/running.md), and our own retries already cover 429 and 504, classified and stop-aware.
    alpaca_sdk_retries: int = Field(
        0, ge=0, le=10, description="times alpaca-py itself resends a call answered 429/504 (0-10; 0: ours retry)"
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
