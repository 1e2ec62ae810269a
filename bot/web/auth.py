"""Who may see and who may act (issue 12, "Safety").

- Bound to loopback (the default), pages and reads are open to the local machine; the controls need the
  token. Bound to any other address, the server refuses to start without a token, and every page and
  answer needs it except /healthz (which carries no money and no secret).
- The token comes only from the environment and is compared in constant time. Reads accept it as a
  bearer token or as the password of HTTP basic auth (browsers and Prometheus both speak basic auth);
  controls accept only the bearer header, which a browser never adds by itself, so another site cannot
  make a visitor's browser press a button (no cross-site request forgery through cached credentials).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from bot.config.sections.exchanges import is_loopback

MIN_TOKEN_LENGTH = 16


class WebSafetyError(ValueError):
    """The web server must not start with these settings; str() is one line for the operator."""


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token, and a token too short to resist guessing."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise WebSafetyError(f"WEB_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters; set a longer random "
                             "token (e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if not is_loopback(host) and not token:
        raise WebSafetyError(f"WEB_HOST={host} would open the dashboard to the network without a password: set "
                             f"WEB_TOKEN (at least {MIN_TOKEN_LENGTH} characters) or keep WEB_HOST=127.0.0.1")


def _matches(offered: str, token: str) -> bool:
    return hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8"))


def bearer_ok(authorization: str | None, token: str | None) -> bool:
    if not token or not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and _matches(value.strip(), token)


def basic_ok(authorization: str | None, token: str | None) -> bool:
    if not token or not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, _, password = decoded.partition(":")
    return _matches(password, token)


class Gate:
    """The access rules of one server, from its bind address and token."""

    def __init__(self, host: str, token: str | None) -> None:
        check_bind(host, token)
        self.token = token
        self.reads_need_token = not is_loopback(host)

    def may_read(self, authorization: str | None) -> bool:
        if not self.reads_need_token:
            return True
        return bearer_ok(authorization, self.token) or basic_ok(authorization, self.token)

    def may_act(self, authorization: str | None) -> bool:
        return bearer_ok(authorization, self.token)
