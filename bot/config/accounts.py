"""Accounts: one master per brokerage plus the users of config/users/*.json, with their credentials.

The values here cross every layer (trader, copy engine, diagnostics); the loading rules
(docs/rules.md §2) live in bot.config.account_loader and bot.config.credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

BROKERS: tuple[str, ...] = ("kraken", "coinbase", "alpaca")


class Role(StrEnum):
    MASTER = "master"
    USER = "user"


@dataclass(frozen=True)
class Credentials:
    """API credentials from the environment. repr() never shows the secret."""

    api_key: str
    api_secret: str = field(repr=False)
    source: str  # the variable prefix they came from, e.g. KRAKEN_MASTER or KRAKEN_USER_DAIVON
    paper: bool = True  # Alpaca only: paper or live endpoint

    @property
    def fingerprint(self) -> str:
        """Safe to show: the last 4 characters of the key (never of the secret)."""
        return f"...{self.api_key[-4:]}" if len(self.api_key) >= 8 else "(short key)"


@dataclass(frozen=True)
class AccountConfig:
    broker: str  # kraken | coinbase | alpaca
    account_id: str  # "master" for the master, else the user id (file name or user_id)
    role: Role
    display_name: str
    enabled: bool = True
    copy_from_master: bool = True
    risk_multiplier: float = 1.0
    disabled_symbols: frozenset[str] = frozenset()
    credentials: Credentials | None = None
    credential_problem: str | None = None  # why credentials are missing or malformed (one line)
    credential_state: str = "missing"  # ok | missing | incomplete | malformed | conflict
    source: str = "environment"  # where the account was defined (a file path for users)
    demo: bool = False  # a paper-mode demo account on the simulator (no file to edit)

    @property
    def label(self) -> str:
        """The log prefix and thread name stem: kraken:master, kraken:daivon_frazier."""
        return f"{self.broker}:{self.account_id}"

    @property
    def is_master(self) -> bool:
        return self.role is Role.MASTER


@dataclass
class AccountRegistry:
    """Every configured account, plus the problems found while loading (one line each)."""

    accounts: list[AccountConfig] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stray_credentials: list[str] = field(default_factory=list)  # user variable prefixes no user file reads

    def __iter__(self) -> Iterator[AccountConfig]:
        return iter(self.accounts)

    def master(self, broker: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.broker == broker and a.is_master), None)

    def users(self, broker: str) -> list[AccountConfig]:
        return [a for a in self.accounts if a.broker == broker and not a.is_master]

    def get(self, broker: str, account_id: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.broker == broker and a.account_id == account_id), None)

    def brokers(self) -> list[str]:
        """Brokerages with at least one configured account, in BROKERS order."""
        present = {a.broker for a in self.accounts}
        return [b for b in BROKERS if b in present]

    def secrets(self) -> list[str]:
        """Every configured key and secret, for the log redaction filter."""
        values: list[str] = []
        for account in self.accounts:
            if account.credentials:
                values.extend([account.credentials.api_key, account.credentials.api_secret])
        return [v for v in values if v]
