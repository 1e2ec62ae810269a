"""`python bot.py status [--json]` reads the store: every account's state, reason, fix, money, positions, health."""

from __future__ import annotations

import argparse
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config.accounts import AccountRegistry
from bot.config.settings import Settings, load_settings
from bot.state.records import AccountStateRecord, HealthRecord, HealthStatus, PositionRecord
from bot.state.store import StateStore
from bot.trading import commands
from bot.trading.modes import paper_state_dir
from bot.trading.trader import LiveOrderRefused, Trader


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    return load_settings({"NIJA_STATE_DIR": str(tmp_path / "state"), **extra}, env_file=None)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.add_status_arguments(parser)
    return parser.parse_args(list(argv))


def fill_store(path: Path) -> None:
    with StateStore(path, clock=ManualClock(1_750_000_000.0)) as store:
        store.save_account_state(AccountStateRecord("kraken", "master", "master", "TRADING", "runs APEX", "",
                                                    equity=10_012.3, cash=9_000.0, open_positions=1))
        store.save_account_state(AccountStateRecord(
            "kraken", "daivon", "user", "UNFUNDED", "equity 0.10 USD is under MINIMUM_FUNDED_BALANCE 0.50",
            "deposit at least 0.40 USD"))
        store.save_health(HealthRecord("kraken", "master", HealthStatus.DEGRADED, cycles=9, successes=6,
                                       consecutive_errors=3, last_error="ExchangeUnavailable: 503"))
        store.save_position(PositionRecord("kraken", "master", "BTC-USD", 50_000.0, Decimal("0.02"), Decimal("0.02"),
                                           49_000.0, 49_000.0, 1_000.0, 1_750_000_000.0))


def test_status_json_lists_every_account_from_the_paper_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    fill_store(paper_state_dir(settings) / "nija.sqlite3")
    out = io.StringIO()
    assert commands.status(parse("--json"), settings, out=out) == 0
    report = json.loads(out.getvalue())
    by_id = {a["account_id"]: a for a in report["accounts"]}
    master, user = by_id["master"], by_id["daivon"]
    for key in ("broker", "account_id", "role", "state", "reason", "fix", "equity", "open_positions"):
        assert key in master
    assert (master["state"], master["equity"], master["open_positions"]) == ("TRADING", 10_012.3, 1)
    assert master["positions"][0]["symbol"] == "BTC-USD"
    assert master["health"]["status"] == "degraded" and master["health"]["consecutive_errors"] == 3
    assert (user["state"], user["fix"]) == ("UNFUNDED", "deposit at least 0.40 USD")
    assert user["health"] is None


def test_status_text_shows_reason_fix_and_last_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    fill_store(paper_state_dir(settings) / "nija.sqlite3")
    out = io.StringIO()
    assert commands.status(parse(), settings, out=out) == 0
    text = out.getvalue()
    assert "kraken:daivon" in text and "UNFUNDED" in text and "fix: deposit at least 0.40 USD" in text
    assert "last error: ExchangeUnavailable: 503" in text and "position BTC-USD 0.02" in text


def test_status_reads_the_live_store_when_live_trading(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, LIVE_TRADING="true")
    fill_store(tmp_path / "state" / "nija.sqlite3")
    out = io.StringIO()
    assert commands.status(parse("--json"), settings, out=out) == 0
    assert len(json.loads(out.getvalue())["accounts"]) == 2


def test_status_without_a_store_says_how_to_get_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.status(parse(), settings_for(tmp_path)) == 1
    assert "no state store" in capsys.readouterr().err


def test_the_trader_refuses_real_exchanges_without_live_trading(tmp_path: Path) -> None:
    clock = ManualClock()
    with StateStore(tmp_path / "s.sqlite3", clock=clock) as store, pytest.raises(LiveOrderRefused):
        Trader(settings_for(tmp_path, LIVE_TRADING="yes"), AccountRegistry(), clock, store,
               broker_factory=lambda *a: None, paper=False)  # type: ignore[arg-type, return-value]

