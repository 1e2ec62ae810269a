"""make_broker: the one place that turns an account into its exchange adapter.

Adapters are imported on first use so an installation that trades only Kraken never imports the
Alpaca SDK. Add a brokerage with one line in ADAPTERS ("name": "module:Class"); every adapter's
constructor takes (account, settings, clock, state_dir).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from bot.brokers.base import Broker
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings

ADAPTERS: dict[str, str] = {
    "kraken": "bot.brokers.kraken:KrakenBroker",
    "coinbase": "bot.brokers.coinbase:CoinbaseBroker",
    "alpaca": "bot.brokers.alpaca:AlpacaBroker",
}


def adapter_class(broker: str) -> type[Broker]:
    path = ADAPTERS.get(broker)
    if path is None:
        raise ValueError(f"no adapter for brokerage {broker!r}; known: {', '.join(sorted(ADAPTERS))}")
    module, name = path.split(":")
    found = getattr(importlib.import_module(module), name)
    if not (isinstance(found, type) and issubclass(found, Broker)):
        raise TypeError(f"{path} is not a Broker")
    return found


def make_broker(account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> Broker:
    """A new adapter for this account (each account owns its own session, nonce channel and limiter).

    The settlement policy every adapter shares (Broker.settle) takes its grace period from the settings here,
    so no adapter has to repeat it.
    """
    broker = adapter_class(account.broker)(account, settings, clock, Path(state_dir))  # type: ignore[call-arg]
    broker.unknown_order_grace_seconds = settings.exchanges.unknown_order_grace_seconds
    return broker
