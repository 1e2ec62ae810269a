"""Settings: the documented defaults, the real environment over .env, and one clear line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.errors import ConfigError
from bot.config.settings import all_env_names, load_settings


def test_spec_defaults() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.general.max_user_risk == 0.10
    assert settings.general.minimum_funded_balance == 0.50
    assert settings.general.max_concurrent_positions == 8
    assert settings.general.copy_trading_mode == "MASTER_FOLLOW"
    assert settings.general.live_trading is False
    assert settings.strategy.rsi_oversold == 30
    assert settings.strategy.adx_min == 18
    assert settings.copy_trading.master_offline_seconds == 600


def test_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_USER_RISK=0.05\nMAX_CONCURRENT_POSITIONS=3\n")
    settings = load_settings({"MAX_USER_RISK": "0.2"}, env_file=env_file)
    assert settings.general.max_user_risk == 0.2
    assert settings.general.max_concurrent_positions == 3


@pytest.mark.parametrize(
    ("variable", "value", "expected_words"),
    [
        ("MAX_USER_RISK", "abc", "valid number"),
        ("MAX_USER_RISK", "-0.1", "greater than 0"),
        ("MAX_USER_RISK", "1.5", "less than or equal to 1"),
        ("COPY_TRADING_MODE", "MIRROR", "MASTER_FOLLOW or INDEPENDENT"),
        ("ENTRY_BLOCKING", "sometimes", "true or false"),
        ("MAX_CONCURRENT_POSITIONS", "0", "greater than or equal to 1"),
        ("MINIMUM_FUNDED_BALANCE", "-5", "greater than or equal to 0"),
        ("EXCHANGE_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("KRAKEN_RATE_TIER", "Gold", "Starter, Intermediate or Pro"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(variable: str, value: str, expected_words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r}:")
    assert expected_words in message
    assert "\n" not in message


def test_live_trading_is_only_the_word_true() -> None:
    assert load_settings({"LIVE_TRADING": "true"}, env_file=None).general.live_trading is True
    for other in ("yes", "1", "TRUE ", "on", "", "false"):
        expected = other.strip().lower() == "true"
        assert load_settings({"LIVE_TRADING": other}, env_file=None).general.live_trading is expected


def test_env_names_are_unique_and_documented() -> None:
    names = all_env_names()
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    undocumented = [name for name in names if name not in example]
    assert undocumented == [], f".env.example lacks {undocumented}"


def test_list_values_split_on_commas() -> None:
    settings = load_settings({"CASH_ASSETS": "USD, USDT", "PAPER_FOLLOWER_BALANCES": "100,50.5"}, env_file=None)
    assert settings.general.cash_assets == ("USD", "USDT")
    assert settings.paper.paper_follower_balances == (100.0, 50.5)
