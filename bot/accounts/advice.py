"""Per-brokerage words for reasons and fixes: exchange names, key permissions, the variables that set things.

Kept apart from the classification so that every message names the same variables the
configuration really reads (bot.config.credentials decides those names; this module asks it).
"""

from __future__ import annotations

import math

from bot.config.accounts import AccountConfig
from bot.config.credentials import master_prefixes, user_prefixes
from bot.config.settings import Settings

EXCHANGE_NAMES = {"kraken": "Kraken", "coinbase": "Coinbase Advanced", "alpaca": "Alpaca"}

KEY_PERMISSIONS = {
    "kraken": (
        "Query Funds, Query Open Orders & Trades, Query Closed Orders & Trades, Create & Modify Orders "
        "and Cancel/Close Orders (never Withdraw Funds)"
    ),
    "coinbase": "View and Trade on the portfolio you trade (never Transfer), with the ECDSA signature algorithm",
    "alpaca": "trading access for the account (paper keys for a paper account, live keys for a live one)",
}

KEY_PAGES = {
    "kraken": "Kraken > Settings > API",
    "coinbase": "the Coinbase Developer Platform > API keys",
    "alpaca": "the Alpaca dashboard > API keys",
}

URL_VARIABLES = {"kraken": "KRAKEN_API_URL", "coinbase": "COINBASE_API_URL", "alpaca": "ALPACA_API_URL"}


def exchange_name(broker: str) -> str:
    return EXCHANGE_NAMES.get(broker, broker)


def credential_prefix(account: AccountConfig) -> str:
    """The variable prefix an account's credentials should be set under (the preferred one)."""
    if account.credentials is not None:
        return account.credentials.source
    if account.is_master:
        return master_prefixes(account.broker)[0]
    return user_prefixes(account.broker, account.account_id)[0]


def preferred_prefix(account: AccountConfig) -> str:
    if account.is_master:
        return master_prefixes(account.broker)[0]
    return user_prefixes(account.broker, account.account_id)[0]


def exchange_url(broker: str, settings: Settings) -> str:
    exchanges = settings.exchanges
    url = {
        "kraken": exchanges.kraken_api_url,
        "coinbase": exchanges.coinbase_api_url,
        "alpaca": exchanges.alpaca_api_url,
    }.get(broker)
    return url or "the SDK's default endpoint"


def usd(amount: float) -> str:
    return f"{amount:,.2f} USD"


def round_up_cents(amount: float) -> float:
    """Deposits are advised rounded up, so following the advice always clears the bar."""
    return math.ceil(round(amount * 100, 6)) / 100


def pct(fraction: float) -> str:
    """0.1 -> '10%', 0.025 -> '2.5%' (never rounded to a wrong whole percent)."""
    return f"{fraction * 100:g}%"
