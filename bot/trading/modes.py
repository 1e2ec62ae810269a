"""Paper or live: which one a start-up means, where each mode keeps its state, the brokerages a paper run simulates.

Live means live (docs/rules.md §1): with LIVE_TRADING=true, a credential that is set but unusable stops the
start with one line per variable; paper mode stands in for a live request only when no credential at all
is set, and then says so loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.accounts import BROKERS, AccountRegistry
from bot.config.settings import Settings

PAPER_SUBDIR = "paper"


def paper_state_dir(settings: Settings) -> Path:
    """Paper state lives apart from the live store, so a demo never mixes with real positions."""
    return Path(settings.general.state_dir) / PAPER_SUBDIR


def parse_brokers(text: str | None) -> tuple[str, ...]:
    """'kraken,coinbase' -> ('kraken', 'coinbase'); ValueError with one clear line otherwise."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in (text or "kraken").split(",") if part.strip()))
    unknown = [n for n in names if n not in BROKERS]
    if unknown or not names:
        raise ValueError(f"--brokers {text!r}: expected a comma-separated list of {', '.join(BROKERS)}")
    return names


BANNER = "!" * 100
UNUSABLE = ("incomplete", "malformed", "conflict")


@dataclass(frozen=True)
class ModeDecision:
    """live, or paper with the lines to print first; `refusals` non-empty means: do not start (exit 2)."""

    live: bool
    refusals: tuple[str, ...] = ()
    banner: tuple[str, ...] = ()


def choose_mode(settings: Settings, registry: AccountRegistry) -> ModeDecision:
    usable = [a for a in registry.accounts if a.credentials is not None]
    unusable = [a for a in registry.accounts if a.credential_state in UNUSABLE and a.credential_problem]
    stray = registry.stray_credentials
    if not settings.general.live_trading:
        if usable or unusable or stray:
            return ModeDecision(False, banner=(
                BANNER,
                "Live credentials found, but LIVE_TRADING is not true: NO ORDER GOES TO A REAL EXCHANGE.",
                "Running paper mode on the built-in simulator. Set LIVE_TRADING=true to trade live.",
                BANNER,
            ))
        return ModeDecision(False)
    if unusable:  # one line per variable: its name, what is wrong, and that paper mode will not stand in
        return ModeDecision(False, refusals=tuple(
            f"LIVE_TRADING=true, but {a.credential_problem}; fix it or unset it (no paper mode in place of live)"
            for a in unusable
        ))
    if not usable and stray:
        return ModeDecision(False, refusals=tuple(
            f"LIVE_TRADING=true, but {prefix}_API_KEY/_API_SECRET belong to no user file in "
            f"{settings.general.users_dir}; add the file or unset them (no paper mode in place of live)"
            for prefix in stray
        ))
    if not usable:
        return ModeDecision(False, banner=(
            BANNER,
            "LIVE_TRADING=true but NO credentials are set at all: running PAPER MODE on the built-in simulator.",
            "Set <BROKER>_MASTER_API_KEY and <BROKER>_MASTER_API_SECRET (see .env.example) to trade live.",
            BANNER,
        ))
    return ModeDecision(True)
