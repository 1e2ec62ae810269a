"""The store file across restarts, files the store must refuse, and where the live store lives."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config.errors import ConfigError
from bot.config.paths import PROJECT_DIR
from bot.config.settings import load_settings
from bot.state.open import store_path
from bot.state.records import MasterHeartbeat
from bot.state.schema import SCHEMA_VERSION
from bot.state.store import DEFAULT_FILE_NAME, StateStore, StateStoreError
from tests.state.conftest import START, account_state, copy_event, fill, health, order, position, signal


def test_everything_survives_close_and_reopen(db_path: Path, clock: ManualClock) -> None:
    with StateStore(db_path, clock=clock) as first:
        first.record_order(order())
        first.record_fill(fill())
        first.save_position(position())
        first.record_signal(signal())
        first.add_copy(copy_event())
        first.save_account_state(account_state())
        first.save_health(health())
        first.beat_master("kraken", "boss", at=START - 7.0)
    with StateStore(db_path, clock=ManualClock(START + 3_600)) as reopened:
        assert reopened.orders() == [order()]
        assert reopened.fills() == [fill()]
        assert reopened.positions() == [position()]
        assert reopened.signals() == [signal()]
        assert reopened.copies() == [copy_event()]
        assert reopened.account_states() == [account_state()]
        assert reopened.health_records() == [health()]
        assert reopened.master_heartbeat("kraken") == MasterHeartbeat("kraken", "boss", START - 7.0)
        _, created = reopened.record_signal(signal())  # exactly-once holds across the restart too
        assert created is False


def test_non_database_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    content = b"this is a text file, not a database\n" * 64
    path.write_bytes(content)
    with pytest.raises(StateStoreError) as caught:
        StateStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content  # refused, not overwritten


def _set_schema_version(path: Path, version: int) -> None:
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(version),))


def _schema_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        return int(raw.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0])


def test_store_from_a_newer_version_is_refused_naming_both_versions(db_path: Path) -> None:
    StateStore(db_path).close()
    assert _schema_version(db_path) == SCHEMA_VERSION
    newer = SCHEMA_VERSION + 41
    _set_schema_version(db_path, newer)
    with pytest.raises(StateStoreError) as caught:
        StateStore(db_path)
    message = str(caught.value)
    assert str(db_path) in message
    numbers = re.findall(r"\d+", message.replace(str(db_path), ""))
    assert str(newer) in numbers and str(SCHEMA_VERSION) in numbers, message
    assert _schema_version(db_path) == newer  # not quietly downgraded


def test_store_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / DEFAULT_FILE_NAME
    with StateStore(path) as store:
        store.record_fill(fill())
    assert path.is_file()


# ---- store_path -------------------------------------------------------------------------------------


def test_unset_database_url_uses_state_dir(tmp_path: Path) -> None:
    settings = load_settings({"NIJA_STATE_DIR": str(tmp_path / "live")}, env_file=None)
    assert store_path(settings) == tmp_path / "live" / "nija.sqlite3"
    assert store_path(load_settings({}, env_file=None)) == PROJECT_DIR / "state" / "nija.sqlite3"


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:///x", PROJECT_DIR / "x"), ("sqlite:///data/nija.db", PROJECT_DIR / "data/nija.db"),
     ("sqlite:////var/lib/nija/nija.db", Path("/var/lib/nija/nija.db"))],
)
def test_sqlite_url_names_the_file(url: str, expected: Path, tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": url, "NIJA_STATE_DIR": str(tmp_path)}, env_file=None)
    assert store_path(settings) == expected


@pytest.mark.parametrize(
    "url",
    ["postgres://user:secretpw@h/db", "postgresql://user:secretpw@h:5432/db?sslmode=require",
     "mysql://root:secretpw@localhost/nija", "sqlite:///", "user:secretpw@h/db"],
)
def test_other_urls_are_a_config_error_without_the_password(url: str) -> None:
    settings = load_settings({"DATABASE_URL": url}, env_file=None)
    with pytest.raises(ConfigError) as caught:
        store_path(settings)
    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "secretpw" not in message and "secretpw" not in repr(caught.value)
