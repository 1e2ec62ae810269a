"""Credential resolution from the environment (docs/rules.md §2) and format checks without any network.

Masters: ``<BROKER>_MASTER_API_KEY`` / ``_API_SECRET``, with ``<BROKER>_PLATFORM_...`` and the old
``<BROKER>_API_KEY`` / ``_API_SECRET`` as aliases; two aliases set to different values is an error.
Users: ``<BROKER>_USER_<ID>_API_KEY`` / ``_API_SECRET`` with the first-name fallback
``<BROKER>_USER_<FIRST>_...`` the previous bot used. Messages name variables, never values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.config.accounts import Credentials

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class CredentialLookup:
    """What was found for one account: credentials, or a state and a one-line problem."""

    credentials: Credentials | None
    state: str  # ok | missing | incomplete | malformed | conflict
    problem: str | None = None


def master_prefixes(broker: str) -> list[str]:
    """Variable prefixes for a brokerage's master, preferred first."""
    upper = broker.upper()
    return [f"{upper}_MASTER", f"{upper}_PLATFORM", upper]


def user_prefixes(broker: str, user_id: str) -> list[str]:
    """Full-id prefix first, then the first-name fallback when it differs."""
    upper = broker.upper()
    full = f"{upper}_USER_{user_id.upper()}"
    first = f"{upper}_USER_{user_id.split('_')[0].upper()}"
    return [full] if first == full else [full, first]


def first_name_prefix(broker: str, user_id: str) -> str:
    return f"{broker.upper()}_USER_{user_id.split('_')[0].upper()}"


def _value(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _normalise_secret(broker: str, secret: str) -> str:
    # PEM keys pasted into one-line env vars (Railway, Render, .env) carry literal "\n".
    if broker == "coinbase" and "\\n" in secret:
        return secret.replace("\\n", "\n")
    return secret


def secret_format_problem(broker: str, secret_var: str, secret: str) -> str | None:
    """Why a secret cannot be right for this exchange (checked offline), or None."""
    if broker == "kraken":
        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            return f"{secret_var} is not valid base64: copy the private key exactly as Kraken shows it"
        return None
    if broker == "coinbase":
        if "-----BEGIN" in secret:
            try:
                key = load_pem_private_key(secret.encode(), password=None)
            except (ValueError, TypeError):
                return f"{secret_var} is not a readable PEM private key: paste the whole key including BEGIN/END lines"
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                return f"{secret_var} is a PEM key but not an EC key: create an ECDSA (ES256) Coinbase API key"
            return None
        try:
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) in (32, 64):
            return None  # the SDK's base64 Ed25519 form
        return f"{secret_var} is neither a PEM EC private key nor a base64 Ed25519 key"
    return None


def _resolve_pair(
    broker: str, environ: Mapping[str, str], prefixes: Sequence[str]
) -> tuple[str, str, str] | CredentialLookup:
    """(prefix, key, secret) from the first prefix that sets anything, or a lookup with the problem."""
    found: list[tuple[str, str, str]] = []
    for prefix in prefixes:
        key, secret = _value(environ, f"{prefix}_API_KEY"), _value(environ, f"{prefix}_API_SECRET")
        if key or secret:
            found.append((prefix, key, secret))
    if not found:
        return CredentialLookup(
            None,
            "missing",
            f"no credentials: set {prefixes[0]}_API_KEY and {prefixes[0]}_API_SECRET",
        )
    first = found[0]
    for other in found[1:]:
        if (other[1], other[2]) != (first[1], first[2]):
            return CredentialLookup(
                None,
                "conflict",
                f"{first[0]}_API_KEY/_API_SECRET and {other[0]}_API_KEY/_API_SECRET are both set and differ: "
                f"keep only {prefixes[0]}_*",
            )
    prefix, key, secret = first
    if not key:
        return CredentialLookup(None, "incomplete", f"{prefix}_API_SECRET is set but {prefix}_API_KEY is missing")
    if not secret:
        return CredentialLookup(None, "incomplete", f"{prefix}_API_KEY is set but {prefix}_API_SECRET is missing")
    return prefix, key, secret


def resolve_credentials(broker: str, environ: Mapping[str, str], prefixes: Sequence[str]) -> CredentialLookup:
    """Find and check one account's credentials under the given variable prefixes."""
    pair = _resolve_pair(broker, environ, prefixes)
    if isinstance(pair, CredentialLookup):
        return pair
    prefix, key, secret = pair
    secret = _normalise_secret(broker, secret)
    problem = secret_format_problem(broker, f"{prefix}_API_SECRET", secret)
    if problem:
        return CredentialLookup(None, "malformed", problem)
    paper = True
    if broker == "alpaca":
        paper_var = f"{prefix}_PAPER"
        raw = _value(environ, paper_var).lower()
        if raw and raw not in _TRUE | _FALSE:
            return CredentialLookup(None, "malformed", f"{paper_var}={raw!r}: expected true or false")
        paper = raw not in _FALSE
    return CredentialLookup(Credentials(api_key=key, api_secret=secret, source=prefix, paper=paper), "ok")
