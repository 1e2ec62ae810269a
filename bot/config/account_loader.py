"""Build the AccountRegistry: masters from the environment, users from config/users/*.json.

Two user-file shapes are read (docs/rules.md §2): a per-user object whose id is the file name,
and a per-brokerage list of objects carrying ``user_id``. A broken file, or one broken entry,
is reported with its path and the problem; every other account still loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from bot.config.accounts import BROKERS, AccountConfig, AccountRegistry, Role
from bot.config.credentials import (
    first_name_prefix,
    master_prefixes,
    resolve_credentials,
    user_prefixes,
)
from bot.config.settings import Settings
from bot.config.user_files import UserEntry, read_user_files

_USER_VARIABLE = re.compile(r"^(?P<prefix>(?P<broker>[A-Z]+)_USER_(?P<id>[A-Z0-9_]+?))_API_(?:KEY|SECRET)$")

def _drop_duplicates(entries: list[UserEntry], problems: list[str]) -> list[UserEntry]:
    """Duplicate ids on one brokerage are ambiguous: report them and load neither."""
    by_key: dict[tuple[str, str], list[UserEntry]] = {}
    for entry in entries:
        by_key.setdefault((entry.broker, entry.user_id), []).append(entry)
    kept: list[UserEntry] = []
    for (broker, user_id), group in by_key.items():
        if len(group) > 1:
            where = " and ".join(e.source for e in group)
            problems.append(f"duplicate user id '{user_id}' on {broker} in {where}: give each user a unique id")
            continue
        kept.append(group[0])
    return kept


def _user_account(entry: UserEntry, environ: Mapping[str, str], ambiguous: set[tuple[str, str]]) -> AccountConfig:
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
    general = settings.general
    entries, problems = read_user_files(general.users_dir, max_bytes=general.user_file_max_bytes,
                                        max_depth=general.user_file_max_depth)
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
    registry.stray_credentials = stray_user_credentials(environ, entries)
    problems.extend(
        f"{prefix}_API_KEY/_API_SECRET set, but no user file in {general.users_dir} defines "
        f"{prefix.split('_USER_')[0].lower()} user '{prefix.split('_USER_')[1].lower()}': add one (see "
        "config/users/README.md) or remove the variables; they are not used"
        for prefix in registry.stray_credentials
    )
    return registry


def stray_user_credentials(environ: Mapping[str, str], entries: Iterable[UserEntry]) -> list[str]:
    """Prefixes of user credential variables (KRAKEN_USER_BOB) that no loaded user entry reads."""
    read = {prefix for e in entries for prefix in user_prefixes(e.broker, e.user_id)}
    stray = set()
    for name, value in environ.items():
        match = _USER_VARIABLE.match(name)
        if match and value.strip() and match["broker"].lower() in BROKERS and match["prefix"] not in read:
            stray.add(match["prefix"])
    return sorted(stray)
