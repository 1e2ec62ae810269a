"""User files refuse what they do not understand (issue 13): typos, credentials, strays, size and depth."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bot.config.account_loader import load_accounts
from bot.config.settings import Settings, load_settings
from bot.config.user_files import nesting_depth_over

SECRET = base64.b64encode(b"k" * 64).decode()


def settings_for(users: Path, **env: str) -> Settings:
    return load_settings({"NIJA_USERS_DIR": str(users), **env}, env_file=None)


@pytest.fixture
def users(tmp_path: Path) -> Path:
    folder = tmp_path / "users"
    folder.mkdir()
    (folder / "good_user.json").write_text(json.dumps({"name": "Good", "broker": "kraken"}))
    return folder


def only_problem(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


@pytest.mark.parametrize(("typo", "meant"), [("enabeld", "enabled"), ("copy_from_mastr", "copy_from_master"),
                                             ("risk_multiplyer", "risk_multiplier")])
def test_a_typo_refuses_the_entry_and_suggests_the_nearest_key(users: Path, typo: str, meant: str) -> None:
    path = users / "daivon_frazier.json"
    path.write_text(json.dumps({"name": "Daivon", "broker": "kraken", typo: False}))
    registry = load_accounts(settings_for(users), {})
    problem = only_problem(registry.problems)
    assert problem.startswith(f"{path}: unknown key '{typo}' (did you mean '{meant}'?)")
    assert registry.get("kraken", "daivon_frazier") is None  # not loaded as enabled and copying
    assert registry.get("kraken", "good_user") is not None


def test_an_unknown_key_with_no_near_match_lists_the_known_keys(users: Path) -> None:
    (users / "ann.json").write_text(json.dumps({"name": "Ann", "broker": "kraken", "colour": "blue"}))
    problem = only_problem(load_accounts(settings_for(users), {}).problems)
    assert "unknown key 'colour'" in problem and "known keys: user_id, name, broker" in problem


def test_a_typo_in_one_entry_of_a_list_file_names_the_entry(users: Path) -> None:
    path = users / "kraken_users.json"
    path.write_text(json.dumps([{"user_id": "ann", "broker_type": "kraken"},
                                {"user_id": "ben", "broker_type": "kraken", "enabeld": False}]))
    registry = load_accounts(settings_for(users), {})
    assert only_problem(registry.problems).startswith(f"{path} entry 2: unknown key 'enabeld'")
    assert registry.get("kraken", "ann") is not None and registry.get("kraken", "ben") is None


@pytest.mark.parametrize(("key", "variable"), [
    ("api_key", "KRAKEN_USER_DAIVON_FRAZIER_API_KEY"),
    ("apiSecret", "KRAKEN_USER_DAIVON_FRAZIER_API_SECRET"),
    ("private_key", "KRAKEN_USER_DAIVON_FRAZIER_API_SECRET"),
    ("credentials", "KRAKEN_USER_DAIVON_FRAZIER_API_KEY"),
])
def test_a_credential_in_a_user_file_names_the_variable_and_never_the_value(
    users: Path, key: str, variable: str
) -> None:
    path = users / "daivon_frazier.json"
    value = {"api_key": "leaked-key-123", "api_secret": SECRET} if key == "credentials" else SECRET
    path.write_text(json.dumps({"name": "Daivon", "broker": "kraken", key: value}))
    registry = load_accounts(settings_for(users), {})
    problem = only_problem(registry.problems)
    assert problem.startswith(f"{path}: '{key}' looks like a credential")
    assert f"set {variable} in the environment" in problem
    assert SECRET not in problem and "leaked-key-123" not in problem
    assert registry.get("kraken", "daivon_frazier") is None


def test_credentials_in_the_environment_for_a_user_with_no_file_are_reported(users: Path) -> None:
    env = {"KRAKEN_USER_BOB_API_KEY": "bob-key-0000001", "KRAKEN_USER_BOB_API_SECRET": SECRET,
           "COINBASE_USER_GOOD_USER_API_KEY": "wrong-brokerage"}
    registry = load_accounts(settings_for(users), env)
    assert registry.stray_credentials == ["COINBASE_USER_GOOD_USER", "KRAKEN_USER_BOB"]
    assert len(registry.problems) == 2
    bob = next(p for p in registry.problems if "KRAKEN_USER_BOB" in p)
    assert bob.startswith("KRAKEN_USER_BOB_API_KEY/_API_SECRET set, but no user file in")
    assert "kraken user 'bob'" in bob and SECRET not in bob


def test_variables_a_user_reads_are_not_strays(users: Path) -> None:
    (users / "daivon_frazier.json").write_text(json.dumps({"name": "Daivon", "broker": "kraken"}))
    env = {"KRAKEN_USER_DAIVON_API_KEY": "daivon-key-0001", "KRAKEN_USER_DAIVON_API_SECRET": SECRET,
           "KRAKEN_USER_GOOD_USER_API_KEY": "good-key-000001", "KRAKEN_USER_GOOD_USER_API_SECRET": SECRET,
           "KRAKEN_USER_EMPTY_API_KEY": ""}
    registry = load_accounts(settings_for(users), env)
    assert registry.stray_credentials == [] and registry.problems == []


def test_a_file_over_the_size_limit_is_one_line(users: Path) -> None:
    path = users / "huge.json"
    path.write_text(json.dumps({"name": "H" * 5000, "broker": "kraken"}))
    registry = load_accounts(settings_for(users, USER_FILE_MAX_BYTES="1024"), {})
    problem = only_problem(registry.problems)
    assert problem.startswith(f"{path}: ") and "over USER_FILE_MAX_BYTES=1,024" in problem
    assert registry.get("kraken", "good_user") is not None


def test_a_deeply_nested_file_is_one_line_and_every_other_account_loads(users: Path) -> None:
    path = users / "deep.json"
    path.write_text('{"name": "D", "broker": "kraken", "description": ' + "[" * 200_000 + "]" * 200_000 + "}")
    registry = load_accounts(settings_for(users), {})  # once a RecursionError that loaded no account at all
    problem = only_problem(registry.problems)
    assert problem == f"{path}: nested deeper than USER_FILE_MAX_DEPTH=20: a user file is a user object or a list " \
                      "of user objects"
    assert registry.get("kraken", "good_user") is not None


def test_the_depth_scan_skips_brackets_inside_strings() -> None:
    assert not nesting_depth_over('{"a": "[[[[[[[[\\"[[[[["}', 3)
    assert nesting_depth_over('{"a": [[[1]]]}', 3)
    assert not nesting_depth_over('[{"a": [1]}]', 3)
