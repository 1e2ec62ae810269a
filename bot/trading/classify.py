"""The trader's connection step: build one account's own Broker and probe it with the diagnostics.

The state, its reason and its fix come from bot.diagnostics (the one classification every entry
point uses); this module only builds the client the probe talks through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.brokers.base import Broker
from bot.brokers.errors import BrokerError
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.errors import ConfigError
from bot.config.settings import Settings
from bot.diagnostics.probe import ProbeResult, probe_account

log = logging.getLogger(__name__)

BrokerFactory = Callable[[AccountConfig, Settings, Clock, Path], Broker]


@dataclass
class Connection:
    """One account's own Broker (when it could be built) and what probing it found."""

    broker: Broker | None
    probe: ProbeResult


def connect_account(
    account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path, factory: BrokerFactory
) -> Connection:
    if not account.enabled or account.credentials is None:
        return Connection(None, probe_account(account, None, settings.general.cash_assets))
    try:
        broker = factory(account, settings, clock, state_dir)
    except (BrokerError, ConfigError, ValueError) as error:
        log.error("%s: cannot build its %s client: %s", account.label, account.broker, error)
        return Connection(None, ProbeResult.from_error(error))
    return Connection(broker, probe_account(account, broker, settings.general.cash_assets))
