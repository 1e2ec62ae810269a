"""Who follows a master: users of the SAME brokerage with copy_from_master true and enabled, in MASTER_FOLLOW."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.brokers.base import Broker
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings


@dataclass(frozen=True)
class Follower:
    """A follower account and its own broker session (own keys, own nonce)."""

    account: AccountConfig
    broker: Broker

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def label(self) -> str:
        return self.account.label


def is_follower_of(account: AccountConfig, broker_name: str, settings: Settings) -> bool:
    return (
        settings.general.copies_masters
        and account.broker == broker_name
        and not account.is_master
        and account.enabled
        and account.copy_from_master
    )


def eligible_followers(broker_name: str, accounts: Iterable[AccountConfig], settings: Settings) -> list[AccountConfig]:
    """The accounts that copy this brokerage's master (none at all in INDEPENDENT mode)."""
    return [a for a in accounts if is_follower_of(a, broker_name, settings)]
