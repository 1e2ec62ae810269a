"""Paper or live: where each mode keeps its state, and the brokerages a paper run simulates."""

from __future__ import annotations

from pathlib import Path

from bot.config.accounts import BROKERS
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
