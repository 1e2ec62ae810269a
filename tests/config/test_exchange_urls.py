"""Exchange URLs are checked when the settings load (issue 11, #6): one line naming the variable and the right
form, instead of 'HTTP 404 ... check the network' or an InvalidURL at the first call, forever re-checked."""

from __future__ import annotations

import pytest

from bot.config.accounts import AccountConfig, Credentials, Role
from bot.config.errors import ConfigError
from bot.config.settings import load_settings
from bot.trading.trader import order_destinations


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("KRAKEN_API_URL", "https://api.kraken.com/0", "drop /0 (krakenex adds /0/public and /0/private itself)"),
    ("KRAKEN_API_URL", "https://api.kraken.com/0/public", "drop /0/public"),
    ("KRAKEN_API_URL", "api.kraken.com", "no scheme (http:// or https://)"),
    ("KRAKEN_API_URL", "http://api.kraken.com", "plain http would send the API key unencrypted"),
    ("KRAKEN_API_URL", "https://api.kraken.com:99999", "the port is not a number"),
    ("KRAKEN_API_URL", "https://", "no host name"),
    ("KRAKEN_API_URL", "ftp://api.kraken.com", "the scheme 'ftp' is not http or https"),
    ("KRAKEN_API_URL", "https://api.kraken.com/?x=1", "drop the ?query"),
    ("COINBASE_API_URL", "https://api.coinbase.com/api/v3/brokerage", "drop /api/v3/brokerage"),
    ("COINBASE_API_URL", "http://api.coinbase.com", "the SDK always speaks https"),
    ("ALPACA_API_URL", "https://paper-api.alpaca.markets/v2", "drop /v2 (alpaca-py adds /v2 itself)"),
    ("ALPACA_DATA_URL", "data.alpaca.markets", "no scheme"),
])
def test_a_wrong_url_is_one_line_with_the_variable_and_the_right_form(variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({variable: value}, env_file=None)
    message = str(refused.value)
    assert message.startswith(f"{variable}={value!r}: ") and "\n" not in message
    assert words in message and "; expected " in message and "like " in message


def test_right_urls_are_kept_as_the_sdks_need_them() -> None:
    exchanges = load_settings({
        "KRAKEN_API_URL": "https://api.kraken.com/", "COINBASE_API_URL": "https://api.coinbase.com",
        "ALPACA_API_URL": "http://127.0.0.1:8123", "ALPACA_DATA_URL": "",
    }, env_file=None).exchanges
    assert exchanges.kraken_api_url == "https://api.kraken.com"
    assert exchanges.coinbase_api_url == "api.coinbase.com"  # the SDK adds https:// itself
    assert exchanges.alpaca_api_url == "http://127.0.0.1:8123" and exchanges.alpaca_data_url is None
    assert load_settings({"KRAKEN_API_URL": "http://localhost:5000"}, env_file=None).exchanges.kraken_api_url == (
        "http://localhost:5000"
    )


def _account(broker: str, paper: bool = True) -> AccountConfig:
    return AccountConfig(broker, "master", Role.MASTER, "master", credentials=Credentials("k", "s", "X", paper=paper))


def test_the_banner_names_each_brokerages_destination_and_never_calls_the_simulator_real() -> None:
    exchanges = load_settings({"KRAKEN_API_URL": "http://127.0.0.1:8080"}, env_file=None).exchanges
    places = order_destinations(exchanges, [_account("kraken"), _account("coinbase"), _account("alpaca", paper=False)],
                                live=True)
    assert places == {
        "alpaca": "api.alpaca.markets (LIVE account)",
        "coinbase": "api.coinbase.com",
        "kraken": "the simulator at 127.0.0.1:8080 (this machine, not a real exchange)",
    }
    paper_alpaca = order_destinations(exchanges, [_account("alpaca", paper=True)], live=True)
    assert paper_alpaca == {"alpaca": "paper-api.alpaca.markets (paper account)"}
