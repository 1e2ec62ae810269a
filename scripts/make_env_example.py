"""Write .env.example from the settings sections, so every variable the bot reads is documented once.

Run after adding a setting: `python scripts/make_env_example.py`. The credential block is fixed text.
"""

from __future__ import annotations

from _repo_path import ROOT

from bot.config.settings import Settings, env_name

CREDENTIALS = """\
# NIJA environment. Copy to .env (git-ignored) and fill in. Real environment variables win over .env.
# Never commit real keys. Create exchange keys WITHOUT withdrawal permission.
# .env is read from the project's folder, or from NIJA_HOME when that is set in the real environment
# (NIJA_HOME itself cannot be set here); relative paths below are taken from that folder too.
#
# ---- Credentials (leave empty for paper mode) -------------------------------------------------
# Kraken master. Aliases accepted: KRAKEN_PLATFORM_API_KEY/_API_SECRET and KRAKEN_API_KEY/_API_SECRET.
# The secret is Kraken's base64 private key. Permissions: query funds, query/create/cancel orders.
KRAKEN_MASTER_API_KEY=
KRAKEN_MASTER_API_SECRET=
# Kraken users: KRAKEN_USER_<ID>_API_KEY / _API_SECRET, <ID> = user id upper-cased
# (config/users/daivon_frazier.json -> KRAKEN_USER_DAIVON_FRAZIER_API_KEY). The first-name form
# KRAKEN_USER_DAIVON_API_KEY is accepted when only one user has that first name.
# KRAKEN_USER_DAIVON_FRAZIER_API_KEY=
# KRAKEN_USER_DAIVON_FRAZIER_API_SECRET=
#
# Coinbase Advanced master: key name (organizations/.../apiKeys/...) and EC private key (PEM; one line
# with \\n is fine). Aliases: COINBASE_PLATFORM_* and COINBASE_API_KEY/_API_SECRET.
COINBASE_MASTER_API_KEY=
COINBASE_MASTER_API_SECRET=
# COINBASE_USER_<ID>_API_KEY= / COINBASE_USER_<ID>_API_SECRET=
#
# Alpaca master: key id and secret; _PAPER defaults to true. Aliases: ALPACA_PLATFORM_* and
# ALPACA_API_KEY/_API_SECRET/ALPACA_PAPER.
ALPACA_MASTER_API_KEY=
ALPACA_MASTER_API_SECRET=
ALPACA_MASTER_PAPER=true
# ALPACA_USER_<ID>_API_KEY= / ALPACA_USER_<ID>_API_SECRET= / ALPACA_USER_<ID>_PAPER=true
"""


def _format_default(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_format_default(v) for v in value)
    return str(value)


def render() -> str:
    lines = [CREDENTIALS]
    for section_name, section_field in Settings.model_fields.items():
        model = section_field.annotation
        lines.append(f"\n# ---- {section_name.replace('_', ' ')} " + "-" * (90 - len(section_name)))
        for field_name, field in model.model_fields.items():  # type: ignore[union-attr]
            lines.append(f"# {field.description or field_name}")
            lines.append(f"# {env_name(field_name, field)}={_format_default(field.default)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    (ROOT / ".env.example").write_text(render())
    print("wrote .env.example")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
