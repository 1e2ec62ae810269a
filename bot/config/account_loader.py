"""Build the AccountRegistry: masters from the environment, users from config/users/*.json.

Two user-file shapes are read (docs/rules.md §2): a per-user object whose id is the file name,
and a per-brokerage list of objects carrying ``user_id``. A broken file, or one broken entry,
is reported with its path and the problem; every other account still loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config.accounts import BROKERS, AccountConfig, AccountRegistry, Role
from bot.config.credentials import (
    first_name_prefix,
    master_prefixes,
    resolve_credentials,
    user_prefixes,
)
from bot.config.settings import Settings

_MAX_RISK_MULTIPLIER = 10.0  # a sanity bound on a typo (e.g. 50 instead of 0.5); the per-trade cap still applies


@dataclass(frozen=True)
class _UserEntry:
    user_id: str
    broker: str
    name: str
    enabled: bool
    copy_from_master: bool
    risk_multiplier: float
    disabled_symbols: frozenset[str]
    source: str


def normalise_symbol(symbol: str) -> str:
    """'btc/usd', 'BTC-USD' -> 'BTC-USD' (the bot's form)."""
    return symbol.strip().upper().replace("/", "-").replace("_", "-")


class _EntryError(ValueError):
    pass


def _expect(entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
    if key not in entry:
        return default
    value = entry[key]
    # bool is an int in Python: refuse true/false where a number is wanted and vice versa.
    wrong_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if wrong_bool or not isinstance(value, kind):
        raise _EntryError(f"'{key}' must be {what}, got {json.dumps(value)}")
    return value


def _parse_entry(entry: Any, source: str, default_id: str | None, default_broker: str | None) -> _UserEntry:
    if not isinstance(entry, dict):
        raise _EntryError(f"expected a JSON object for a user, got {type(entry).__name__}")
    user_id = _expect(entry, "user_id", str, default_id, "a text id like \"daivon_frazier\"")
    if not user_id or not user_id.replace("_", "").isalnum():
        raise _EntryError(f"user id {user_id!r} must be letters, digits and underscores")
    if user_id.lower() == "master":
        raise _EntryError("user id 'master' is reserved for the brokerage's master account")
    broker_value = entry.get("broker", entry.get("broker_type", default_broker))
    if not isinstance(broker_value, str) or broker_value.lower() not in BROKERS:
        raise _EntryError(f"broker {json.dumps(broker_value)} is not one of {', '.join(BROKERS)}")
    name = _expect(entry, "name", str, user_id, "text")
    enabled = _expect(entry, "enabled", bool, True, "true or false")
    copy = _expect(entry, "copy_from_master", bool, True, "true or false")
    multiplier = float(_expect(entry, "risk_multiplier", (int, float), 1.0, "a number above 0"))
    if not 0 < multiplier <= _MAX_RISK_MULTIPLIER:
        raise _EntryError(f"'risk_multiplier' must be above 0 and at most {_MAX_RISK_MULTIPLIER:g}, got {multiplier:g}")
    symbols = _expect(entry, "disabled_symbols", list, [], "a list of symbols like [\"BTC-USD\"]")
    if not all(isinstance(s, str) for s in symbols):
        raise _EntryError("'disabled_symbols' must be a list of symbols like [\"BTC-USD\"]")
    return _UserEntry(
        user_id=user_id.lower(),
        broker=broker_value.lower(),
        name=name,
        enabled=enabled,
        copy_from_master=copy,
        risk_multiplier=multiplier,
        disabled_symbols=frozenset(normalise_symbol(s) for s in symbols),
        source=source,
    )


def read_user_files(users_dir: Path) -> tuple[list[_UserEntry], list[str]]:
    """Every user entry in users_dir/*.json, and one problem line per bad file or entry."""
    entries: list[_UserEntry] = []
    problems: list[str] = []
    if not users_dir.is_dir():
        return entries, problems
    for path in sorted(users_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problems.append(f"{path}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})")
            continue
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{path}: cannot be read ({error})")
            continue
        if isinstance(data, list):
            items = [(f"{path} entry {i + 1}", item, None) for i, item in enumerate(data)]
        elif isinstance(data, dict):
            items = [(str(path), data, path.stem)]
        else:
            problems.append(f"{path}: expected a user object or a list of users, got {type(data).__name__}")
            continue
        for source, item, default_id in items:
            try:
                entries.append(_parse_entry(item, source, default_id, None))
            except _EntryError as error:
                problems.append(f"{source}: {error}")
    return entries, problems


def _drop_duplicates(entries: list[_UserEntry], problems: list[str]) -> list[_UserEntry]:
    """Duplicate ids on one brokerage are ambiguous: report them and load neither."""
    by_key: dict[tuple[str, str], list[_UserEntry]] = {}
    for entry in entries:
        by_key.setdefault((entry.broker, entry.user_id), []).append(entry)
    kept: list[_UserEntry] = []
    for (broker, user_id), group in by_key.items():
        if len(group) > 1:
            where = " and ".join(e.source for e in group)
            problems.append(f"duplicate user id '{user_id}' on {broker} in {where}: give each user a unique id")
            continue
        kept.append(group[0])
    return kept


def _user_account(entry: _UserEntry, environ: Mapping[str, str], ambiguous: set[tuple[str, str]]) -> AccountConfig:
    prefixes = user_prefixes(entry.broker, entry.user_id)
    # The full-id variables win outright; the first-name form is only a fallback, never an alias.
    lookup = resolve_credentials(entry.broker, environ, prefixes[:1])
    uses_fallback = False
    if lookup.state == "missing" and len(prefixes) > 1:
        fallback = resolve_credentials(entry.broker, environ, prefixes[1:])
        if fallback.state != "missing":
            lookup, uses_fallback = fallback, True
    fallback_is_shared = (entry.broker, first_name_prefix(entry.broker, entry.user_id)) in ambiguous
    account = AccountConfig(
        broker=entry.broker,
        account_id=entry.user_id,
        role=Role.USER,
        display_name=entry.name,
        enabled=entry.enabled,
        copy_from_master=entry.copy_from_master,
        risk_multiplier=entry.risk_multiplier,
        disabled_symbols=entry.disabled_symbols,
        credentials=lookup.credentials,
        credential_problem=lookup.problem,
        credential_state=lookup.state,
        source=entry.source,
    )
    if uses_fallback and fallback_is_shared:
        shared = prefixes[1]
        return replace(
            account,
            credentials=None,
            credential_state="conflict",
            credential_problem=(
                f"{shared}_* would match more than one {entry.broker} user: set {prefixes[0]}_API_KEY and "
                f"{prefixes[0]}_API_SECRET instead"
            ),
        )
    return account


def load_accounts(settings: Settings, environ: Mapping[str, str]) -> AccountRegistry:
    """All accounts: a master per brokerage that has master credentials or users, then the users."""
    entries, problems = read_user_files(settings.general.users_dir)
    entries = _drop_duplicates(entries, problems)

    first_names: dict[tuple[str, str], int] = {}
    for entry in entries:
        key = (entry.broker, first_name_prefix(entry.broker, entry.user_id))
        first_names[key] = first_names.get(key, 0) + 1
    ambiguous = {key for key, count in first_names.items() if count > 1}

    registry = AccountRegistry(problems=problems)
    for broker in BROKERS:
        users = [e for e in entries if e.broker == broker]
        lookup = resolve_credentials(broker, environ, master_prefixes(broker))
        if lookup.state != "missing" or users:
            registry.accounts.append(
                AccountConfig(
                    broker=broker,
                    account_id="master",
                    role=Role.MASTER,
                    display_name=f"{broker.capitalize()} master",
                    copy_from_master=False,
                    credentials=lookup.credentials,
                    credential_problem=lookup.problem,
                    credential_state=lookup.state,
                )
            )
        registry.accounts.extend(_user_account(e, environ, ambiguous) for e in users)
    return registry
