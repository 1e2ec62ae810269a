"""Accounts: both user-file shapes, aliases, the first-name fallback, and every bad input named."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bot.config.account_loader import load_accounts
from bot.config.accounts import Role
from bot.config.settings import Settings, load_settings

KRAKEN_SECRET = base64.b64encode(b"k" * 64).decode()
OTHER_KRAKEN_SECRET = base64.b64encode(b"z" * 64).decode()


def _settings(users_dir: Path) -> Settings:
    return load_settings({"NIJA_USERS_DIR": str(users_dir)}, env_file=None)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def users_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "users"
    folder.mkdir()
    return folder


def test_both_user_file_shapes_load(users_dir: Path) -> None:
    _write(
        users_dir / "daivon_frazier.json",
        {"name": "Daivon Frazier", "broker": "kraken", "enabled": True, "copy_from_master": True,
         "risk_multiplier": 0.5, "disabled_symbols": ["doge/usd"]},
    )
    _write(
        users_dir / "kraken_users.json",
        [{"user_id": "tania_gilbert", "name": "Tania Gilbert", "account_type": "retail", "broker_type": "kraken",
          "enabled": False, "copy_from_master": False, "disabled_symbols": [], "description": "family"}],
    )
    env = {
        "KRAKEN_MASTER_API_KEY": "master-key-0001", "KRAKEN_MASTER_API_SECRET": KRAKEN_SECRET,
        "KRAKEN_USER_DAIVON_FRAZIER_API_KEY": "daivon-key-0001", "KRAKEN_USER_DAIVON_FRAZIER_API_SECRET": KRAKEN_SECRET,
    }
    registry = load_accounts(_settings(users_dir), env)
    assert registry.problems == []
    assert [a.label for a in registry] == ["kraken:master", "kraken:daivon_frazier", "kraken:tania_gilbert"]
    master = registry.master("kraken")
    assert master is not None and master.role is Role.MASTER and master.credential_state == "ok"
    daivon = registry.get("kraken", "daivon_frazier")
    assert daivon is not None
    assert daivon.risk_multiplier == 0.5
    assert daivon.disabled_symbols == frozenset({"DOGE-USD"})
    assert daivon.credentials is not None and daivon.credentials.source == "KRAKEN_USER_DAIVON_FRAZIER"
    tania = registry.get("kraken", "tania_gilbert")
    assert tania is not None and tania.enabled is False and tania.copy_from_master is False
    assert tania.credential_state == "missing"
    assert tania.credential_problem == (
        "no credentials: set KRAKEN_USER_TANIA_GILBERT_API_KEY and KRAKEN_USER_TANIA_GILBERT_API_SECRET"
    )


@pytest.mark.parametrize("alias", ["KRAKEN_PLATFORM", "KRAKEN"])
def test_master_aliases(users_dir: Path, alias: str) -> None:
    env = {f"{alias}_API_KEY": "alias-key-0001", f"{alias}_API_SECRET": KRAKEN_SECRET}
    master = load_accounts(_settings(users_dir), env).master("kraken")
    assert master is not None and master.credentials is not None
    assert master.credentials.source == alias


def test_master_and_platform_both_set_and_different_is_an_error(users_dir: Path) -> None:
    env = {
        "KRAKEN_MASTER_API_KEY": "master-key-0001", "KRAKEN_MASTER_API_SECRET": KRAKEN_SECRET,
        "KRAKEN_PLATFORM_API_KEY": "platform-key-02", "KRAKEN_PLATFORM_API_SECRET": OTHER_KRAKEN_SECRET,
    }
    master = load_accounts(_settings(users_dir), env).master("kraken")
    assert master is not None and master.credentials is None and master.credential_state == "conflict"
    expected = "KRAKEN_MASTER_API_KEY/_API_SECRET and KRAKEN_PLATFORM_API_KEY/_API_SECRET"
    assert expected in (master.credential_problem or "")


def test_master_and_platform_identical_is_fine(users_dir: Path) -> None:
    env = {
        "KRAKEN_MASTER_API_KEY": "same-key-000001", "KRAKEN_MASTER_API_SECRET": KRAKEN_SECRET,
        "KRAKEN_PLATFORM_API_KEY": "same-key-000001", "KRAKEN_PLATFORM_API_SECRET": KRAKEN_SECRET,
    }
    master = load_accounts(_settings(users_dir), env).master("kraken")
    assert master is not None and master.credential_state == "ok"


def test_first_name_fallback(users_dir: Path) -> None:
    _write(users_dir / "daivon_frazier.json", {"name": "Daivon", "broker": "kraken"})
    env = {"KRAKEN_USER_DAIVON_API_KEY": "daivon-key-0001", "KRAKEN_USER_DAIVON_API_SECRET": KRAKEN_SECRET}
    user = load_accounts(_settings(users_dir), env).get("kraken", "daivon_frazier")
    assert user is not None and user.credentials is not None
    assert user.credentials.source == "KRAKEN_USER_DAIVON"


def test_two_users_sharing_a_first_name_fallback_is_refused(users_dir: Path) -> None:
    _write(users_dir / "daivon_frazier.json", {"name": "Daivon F", "broker": "kraken"})
    _write(users_dir / "daivon_smith.json", {"name": "Daivon S", "broker": "kraken"})
    env = {"KRAKEN_USER_DAIVON_API_KEY": "daivon-key-0001", "KRAKEN_USER_DAIVON_API_SECRET": KRAKEN_SECRET}
    registry = load_accounts(_settings(users_dir), env)
    for user_id in ("daivon_frazier", "daivon_smith"):
        user = registry.get("kraken", user_id)
        assert user is not None and user.credentials is None and user.credential_state == "conflict"
        assert user.credential_problem == (
            f"KRAKEN_USER_DAIVON_* would match more than one kraken user: set KRAKEN_USER_{user_id.upper()}_API_KEY "
            f"and KRAKEN_USER_{user_id.upper()}_API_SECRET instead"
        )


def test_full_id_variables_resolve_a_shared_first_name(users_dir: Path) -> None:
    _write(users_dir / "daivon_frazier.json", {"name": "Daivon F", "broker": "kraken"})
    _write(users_dir / "daivon_smith.json", {"name": "Daivon S", "broker": "kraken"})
    env = {
        "KRAKEN_USER_DAIVON_FRAZIER_API_KEY": "frazier-key-001", "KRAKEN_USER_DAIVON_FRAZIER_API_SECRET": KRAKEN_SECRET,
        "KRAKEN_USER_DAIVON_SMITH_API_KEY": "smith-key-00001", "KRAKEN_USER_DAIVON_SMITH_API_SECRET": KRAKEN_SECRET,
    }
    registry = load_accounts(_settings(users_dir), env)
    assert all(a.credential_state == "ok" for a in registry.users("kraken"))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
        ({"name": "X", "broker": "binance"}, 'broker "binance" is not one of kraken, coinbase, alpaca'),
        ({"name": "X", "broker": "kraken", "enabled": "yes"}, "'enabled' must be true or false, got \"yes\""),
        ({"name": "X", "broker": "kraken", "risk_multiplier": "2"}, "'risk_multiplier' must be a number above 0"),
        ({"name": "X", "broker": "kraken", "risk_multiplier": 0}, "'risk_multiplier' must be above 0 and at most 10"),
        ({"name": "X", "broker": "kraken", "disabled_symbols": "BTC-USD"}, "'disabled_symbols' must be a list"),
        ({"name": 5, "broker": "kraken"}, "'name' must be text, got 5"),
        ("[1, 2]", "expected a JSON object for a user, got int"),
        ('"just text"', "expected a user object or a list of users, got str"),
    ],
)
def test_malformed_file_is_reported_and_others_still_load(users_dir: Path, content: object, problem: str) -> None:
    bad = _write(users_dir / "bad_user.json", content)
    _write(users_dir / "good_user.json", {"name": "Good", "broker": "kraken"})
    registry = load_accounts(_settings(users_dir), {})
    assert registry.get("kraken", "good_user") is not None
    assert len(registry.problems) >= 1
    assert registry.problems[0].startswith(str(bad))
    assert problem in registry.problems[0]


def test_duplicate_user_id_is_an_error(users_dir: Path) -> None:
    _write(users_dir / "anna.json", {"name": "Anna", "broker": "kraken"})
    _write(users_dir / "list.json", [{"user_id": "anna", "name": "Anna again", "broker_type": "kraken"},
                                     {"user_id": "ben", "name": "Ben", "broker_type": "kraken"}])
    registry = load_accounts(_settings(users_dir), {})
    assert registry.get("kraken", "anna") is None
    assert registry.get("kraken", "ben") is not None
    assert registry.problems == [
        f"duplicate user id 'anna' on kraken in {users_dir / 'anna.json'} and {users_dir / 'list.json'} entry 1: "
        "give each user a unique id"
    ]


def test_key_without_secret_and_secret_without_key(users_dir: Path) -> None:
    registry = load_accounts(
        _settings(users_dir),
        {"KRAKEN_MASTER_API_KEY": "lonely-key-0001", "COINBASE_MASTER_API_SECRET": _ec_pem()},
    )
    kraken, coinbase = registry.master("kraken"), registry.master("coinbase")
    assert kraken is not None and kraken.credential_state == "incomplete"
    assert kraken.credential_problem == "KRAKEN_MASTER_API_KEY is set but KRAKEN_MASTER_API_SECRET is missing"
    assert coinbase is not None and coinbase.credential_state == "incomplete"
    assert coinbase.credential_problem == "COINBASE_MASTER_API_SECRET is set but COINBASE_MASTER_API_KEY is missing"


def test_kraken_secret_must_be_base64(users_dir: Path) -> None:
    master = load_accounts(
        _settings(users_dir), {"KRAKEN_MASTER_API_KEY": "k-000000001", "KRAKEN_MASTER_API_SECRET": "not base64!!"}
    ).master("kraken")
    assert master is not None and master.credential_state == "malformed"
    assert master.credential_problem == (
        "KRAKEN_MASTER_API_SECRET is not valid base64: copy the private key exactly as Kraken shows it"
    )
    assert "not base64!!" not in repr(master)


def test_coinbase_secret_forms(users_dir: Path) -> None:
    settings = _settings(users_dir)
    one_line_pem = _ec_pem().replace("\n", "\\n")
    ok = load_accounts(settings, {"COINBASE_API_KEY": "organizations/x/apiKeys/y", "COINBASE_API_SECRET": one_line_pem})
    master = ok.master("coinbase")
    assert master is not None and master.credential_state == "ok"
    assert master.credentials is not None
    assert master.credentials.api_secret.startswith("-----BEGIN EC PRIVATE KEY-----\n")
    ed25519 = base64.b64encode(b"e" * 64).decode()
    assert load_accounts(settings, {"COINBASE_MASTER_API_KEY": "kid-0000001", "COINBASE_MASTER_API_SECRET": ed25519}
                         ).master("coinbase").credential_state == "ok"  # type: ignore[union-attr]

    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    bad_cases = {
        rsa_pem: "COINBASE_MASTER_API_SECRET is a PEM key but not an EC key",
        "-----BEGIN EC PRIVATE KEY-----\ngarbage\n-----END EC PRIVATE KEY-----": "is not a readable PEM private key",
        "plain-text-secret": "is neither a PEM EC private key nor a base64 Ed25519 key",
    }
    for secret, problem in bad_cases.items():
        master = load_accounts(
            settings, {"COINBASE_MASTER_API_KEY": "kid-0000001", "COINBASE_MASTER_API_SECRET": secret}
        ).master("coinbase")
        assert master is not None and master.credential_state == "malformed"
        assert problem in (master.credential_problem or "")


def test_alpaca_paper_flag_and_aliases(users_dir: Path) -> None:
    settings = _settings(users_dir)
    live = load_accounts(settings, {"ALPACA_API_KEY": "PKTEST000001", "ALPACA_API_SECRET": "s" * 40,
                                    "ALPACA_PAPER": "false"}).master("alpaca")
    assert live is not None and live.credentials is not None and live.credentials.paper is False
    default = load_accounts(settings, {"ALPACA_MASTER_API_KEY": "PKTEST000001",
                                       "ALPACA_MASTER_API_SECRET": "s" * 40}).master("alpaca")
    assert default is not None and default.credentials is not None and default.credentials.paper is True
    bad = load_accounts(settings, {"ALPACA_MASTER_API_KEY": "PKTEST000001", "ALPACA_MASTER_API_SECRET": "s" * 40,
                                   "ALPACA_MASTER_PAPER": "maybe"}).master("alpaca")
    assert bad is not None and bad.credential_problem == "ALPACA_MASTER_PAPER='maybe': expected true or false"


def test_no_master_listed_for_a_brokerage_with_nothing_configured(users_dir: Path) -> None:
    assert load_accounts(_settings(users_dir), {}).accounts == []


def test_users_of_a_brokerage_without_master_credentials_still_list_the_master(users_dir: Path) -> None:
    _write(users_dir / "ann.json", {"name": "Ann", "broker": "coinbase"})
    registry = load_accounts(_settings(users_dir), {})
    master = registry.master("coinbase")
    assert master is not None and master.credential_state == "missing"
    assert master.credential_problem == "no credentials: set COINBASE_MASTER_API_KEY and COINBASE_MASTER_API_SECRET"


def test_example_user_files_are_valid(tmp_path: Path) -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "config" / "users").glob("*.json.example"))
    assert examples, "config/users should carry example files"
    users = tmp_path / "users"
    users.mkdir()
    for example in examples:
        (users / example.name.removesuffix(".example")).write_text(example.read_text())
    registry = load_accounts(_settings(users), {})
    assert registry.problems == []
    assert len(registry.accounts) >= 3
