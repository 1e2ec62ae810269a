"""The figures behind a health verdict are kept in the store (schema 3) and a version-2 store gains them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.state.records import HealthRecord, HealthStatus
from bot.state.schema import SCHEMA_VERSION
from bot.state.store import StateStore

V2_HEALTH = """CREATE TABLE health (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, cycles INTEGER NOT NULL,
    successes INTEGER NOT NULL, consecutive_errors INTEGER NOT NULL, last_error TEXT NOT NULL,
    last_cycle_at REAL,
    PRIMARY KEY (broker, account_id)
)"""


def test_health_figures_round_trip(tmp_path: Path) -> None:
    record = HealthRecord("kraken", "master", HealthStatus.DEGRADED, cycles=40, successes=30, consecutive_errors=1,
                          last_error="RateLimitError: EAPI:Rate limit exceeded", last_cycle_at=12.5,
                          reason="10 of the last 20 passes failed (50%)", fix="set KRAKEN_RATE_TIER",
                          recent_passes=20, recent_failed_passes=10, recent_calls=120, recent_failed_calls=14)
    with StateStore(tmp_path / "nija.sqlite3") as store:
        store.save_health(record)
    with StateStore(tmp_path / "nija.sqlite3", read_only=True) as viewer:
        assert viewer.get_health("kraken", "master") == record


def test_a_version_2_store_gains_the_health_figures(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE health")
    conn.execute(V2_HEALTH)
    conn.execute("INSERT INTO health VALUES ('kraken', 'master', 'healthy', 7, 7, 0, '', 3.0)")
    conn.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with StateStore(path) as store:
        kept = store.get_health("kraken", "master")
    assert kept == HealthRecord("kraken", "master", HealthStatus.HEALTHY, 7, 7, 0, "", 3.0)  # new figures: 0 / ""
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    conn.close()
