"""Reading config/users/*.json: both shapes, every key checked, limits on size and depth (docs/rules.md §2).

An entry that cannot be trusted is refused whole, with one line naming the file and the problem, and
every other user still loads:
- an unknown key: a typo such as "enabeld": false would otherwise be read as the default (enabled),
  so the line suggests the nearest known key;
- a credential: credentials live only in the environment, so the line names the variable to set
  (never the value);
- a file over USER_FILE_MAX_BYTES or nested deeper than USER_FILE_MAX_DEPTH (a deeply nested file
  once raised a RecursionError that stopped every account from loading).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.accounts import BROKERS

MAX_RISK_MULTIPLIER = 10.0  # a sanity bound on a typo (e.g. 50 instead of 0.5); the per-trade cap still applies

#: every key a user entry may carry, with what it means (the two shapes of the previous bot's files)
KNOWN_KEYS: dict[str, str] = {
    "user_id": "the id (list files; a one-user file's id is its file name)",
    "name": "the person's name",
    "broker": "kraken, coinbase or alpaca",
    "broker_type": "the same as broker (list files)",
    "enabled": "true or false",
    "copy_from_master": "true or false",
    "risk_multiplier": "a number above 0",
    "disabled_symbols": "a list of symbols",
    "account_type": "free text (list files)",
    "description": "free text",
}

# Words that mark a key as a credential (after dropping everything but letters): api_key, apiSecret,
# private_key, passphrase, "credentials": {...} ...
_SECRET_WORDS = ("secret", "private", "password", "passphrase", "pem")
_KEY_WORDS = ("key", "token", "credential")


@dataclass(frozen=True)
class UserEntry:
    user_id: str
    broker: str
    name: str
    enabled: bool
    copy_from_master: bool
    risk_multiplier: float
    disabled_symbols: frozenset[str]
    source: str


class EntryError(ValueError):
    """One user entry is refused; str() is the one-line reason."""


def normalise_symbol(symbol: str) -> str:
    """'btc/usd', 'BTC_USD' or 'BTC-USD' -> 'BTC-USD' (the bot's form), so user files can be loose."""
    return symbol.strip().upper().replace("/", "-").replace("_", "-")


def credential_variable(broker: str | None, user_id: str | None, secret: bool) -> str:
    """The environment variable a user's key (or secret) belongs in."""
    prefix = f"{(broker or '<BROKER>').upper()}_USER_{(user_id or '<ID>').upper()}"
    return f"{prefix}_API_SECRET" if secret else f"{prefix}_API_KEY"


def _credential_kind(key: str) -> str | None:
    """'secret', 'key' or None: whether a key name says it holds a credential."""
    letters = "".join(ch for ch in key.lower() if ch.isalpha())
    if any(word in letters for word in _SECRET_WORDS):
        return "secret"
    if any(word in letters for word in _KEY_WORDS):
        return "key"
    return None


def _check_keys(entry: Mapping[str, Any], broker: str | None, user_id: str | None) -> None:
    for key in entry:
        kind = _credential_kind(str(key)) if key not in KNOWN_KEYS else None
        if kind is not None:
            variable = credential_variable(broker, user_id, secret=kind == "secret")
            raise EntryError(
                f"'{key}' looks like a credential, and credentials never go in user files: delete it here and "
                f"set {variable} in the environment (or .env) instead"
            )
    for key in entry:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
        raise EntryError(f"unknown key '{key}' ({hint}); the entry is not loaded until it is fixed")


def _expect(entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
    if key not in entry:
        return default
    value = entry[key]
    # bool is an int in Python: refuse true/false where a number is wanted and vice versa.
    wrong_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if wrong_bool or not isinstance(value, kind):
        raise EntryError(f"'{key}' must be {what}, got {json.dumps(value)}")
    return value


def parse_entry(entry: Any, source: str, default_id: str | None) -> UserEntry:
    """One user entry, checked key by key; EntryError with one line when it cannot be trusted."""
    if not isinstance(entry, dict):
        raise EntryError(f"expected a JSON object for a user, got {type(entry).__name__}")
    raw_id = entry.get("user_id", default_id)
    raw_broker = entry.get("broker", entry.get("broker_type"))
    _check_keys(entry, raw_broker if isinstance(raw_broker, str) else None,
                raw_id if isinstance(raw_id, str) else None)
    user_id = _expect(entry, "user_id", str, default_id, "a text id like \"daivon_frazier\"")
    if not user_id or not user_id.replace("_", "").isalnum():
        raise EntryError(f"user id {user_id!r} must be letters, digits and underscores")
    if user_id.lower() == "master":
        raise EntryError("user id 'master' is reserved for the brokerage's master account")
    if not isinstance(raw_broker, str) or raw_broker.lower() not in BROKERS:
        raise EntryError(f"broker {json.dumps(raw_broker)} is not one of {', '.join(BROKERS)}")
    name = _expect(entry, "name", str, user_id, "text")
    enabled = _expect(entry, "enabled", bool, True, "true or false")
    copy = _expect(entry, "copy_from_master", bool, True, "true or false")
    multiplier = float(_expect(entry, "risk_multiplier", (int, float), 1.0, "a number above 0"))
    if not 0 < multiplier <= MAX_RISK_MULTIPLIER:
        raise EntryError(f"'risk_multiplier' must be above 0 and at most {MAX_RISK_MULTIPLIER:g}, got {multiplier:g}")
    symbols = _expect(entry, "disabled_symbols", list, [], "a list of symbols like [\"BTC-USD\"]")
    if not all(isinstance(s, str) for s in symbols):
        raise EntryError("'disabled_symbols' must be a list of symbols like [\"BTC-USD\"]")
    for key in ("account_type", "description"):
        _expect(entry, key, str, "", "text")
    return UserEntry(
        user_id=user_id.lower(),
        broker=raw_broker.lower(),
        name=name,
        enabled=enabled,
        copy_from_master=copy,
        risk_multiplier=multiplier,
        disabled_symbols=frozenset(normalise_symbol(s) for s in symbols),
        source=source,
    )


def nesting_depth_over(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `limit` (one pass, strings skipped, no recursion)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _read_json(path: Path, max_bytes: int, max_depth: int) -> Any:
    """The parsed file, or EntryError with the one line that says why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise EntryError(f"{size:,} bytes, over USER_FILE_MAX_BYTES={max_bytes:,}: a user file holds a few "
                             "users; check it is the right file or split it")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EntryError(f"cannot be read ({error})") from None
    if nesting_depth_over(text, max_depth):
        raise EntryError(f"nested deeper than USER_FILE_MAX_DEPTH={max_depth}: a user file is a user object or a "
                         "list of user objects")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise EntryError(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None


def read_user_files(users_dir: Path, *, max_bytes: int, max_depth: int) -> tuple[list[UserEntry], list[str]]:
    """Every user entry in users_dir/*.json, and one problem line per refused file or entry."""
    entries: list[UserEntry] = []
    problems: list[str] = []
    if not users_dir.is_dir():
        problems.append(f"{users_dir}: no such folder, so no user accounts are loaded: create it (see "
                        "config/users/README.md in the project) or set NIJA_USERS_DIR")
        return entries, problems
    for path in sorted(users_dir.glob("*.json")):
        try:
            data = _read_json(path, max_bytes, max_depth)
        except EntryError as error:
            problems.append(f"{path}: {error}")
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
                entries.append(parse_entry(item, source, default_id))
            except EntryError as error:
                problems.append(f"{source}: {error}")
    return entries, problems
