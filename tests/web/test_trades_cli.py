"""`python bot.py trades [--account ID] [--since DATE] [--json]` over a real paper run's store (issue 12)."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import parse_since
from bot.config.settings import load_settings
from bot.trading import commands
from bot.trading.modes import paper_state_dir
from tests.web.conftest import Traded


@pytest.fixture
def settings(traded: Traded, tmp_path: Path) -> object:
    """Settings whose paper store is a copy of the traded run's."""
    settings = load_settings({"NIJA_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    target = paper_state_dir(settings) / "nija.sqlite3"
    target.parent.mkdir(parents=True)
    shutil.copy(traded.path, target)
    return settings


def trades(settings: object, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    commands.add_trades_arguments(parser)
    out = io.StringIO()
    code = commands.trades(parser.parse_args(list(argv)), settings, out=out)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_trades_lists_each_round_trip_with_realised_pnl_and_totals(settings: object) -> None:
    code, text = trades(settings)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["closed", "(UTC)", "account", "symbol"]
    rows = [line for line in lines if line.startswith("20") and "kraken:" in line]
    assert {row.split()[2] for row in rows} == {"kraken:master", "kraken:demo_user_1", "kraken:demo_user_2"}
    assert "kraken:master" in text and "trade(s)" in text and "realised" in text and "of fees" in text


def test_trades_json_matches_the_text_and_filters_by_account_and_date(settings: object, traded: Traded) -> None:
    code, text = trades(settings, "--json")
    everything = json.loads(text)
    assert code == 0 and len(everything["trades"]) >= 3
    totals = everything["totals"]["kraken:master"]
    master = [t for t in everything["trades"] if t["account_id"] == "master"]
    assert totals["trades"] == len(master)
    assert totals["realised_pnl"] == pytest.approx(sum(t["realised_pnl"] for t in master))
    _, one = trades(settings, "--json", "--account", "kraken:demo_user_1")
    assert {t["account_id"] for t in json.loads(one)["trades"]} == {"demo_user_1"}
    _, short = trades(settings, "--json", "--account", "demo_user_2")  # the id alone, on any brokerage
    assert {t["account_id"] for t in json.loads(short)["trades"]} == {"demo_user_2"}
    closed = max(t["closed_at"] for t in everything["trades"])
    after = datetime.fromtimestamp(closed + 86_400, tz=UTC).date().isoformat()
    _, none = trades(settings, "--json", "--since", after)
    assert json.loads(none)["trades"] == []
    on_the_day = datetime.fromtimestamp(closed, tz=UTC).date().isoformat()
    _, some = trades(settings, "--json", "--since", on_the_day)
    assert len(json.loads(some)["trades"]) >= 1


def test_bad_date_or_unknown_account_is_one_line_and_exit_2(
    settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trades(settings, "--since", "yesterday")[0] == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--since 'yesterday': expected a date like 2026-11-29" in err
    assert trades(settings, "--account", "kraken:nobody")[0] == 2
    err = capsys.readouterr().err.strip()
    assert "no such account" in err and "kraken:demo_user_1" in err


def test_since_reads_a_date_a_date_time_or_unix_seconds_the_same_for_the_cli_and_the_api() -> None:
    day = datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    assert parse_since("2026-11-29") == day and parse_since("20261129") == day
    assert parse_since("2026-11-29T14:00") == day + 14 * 3600
    assert parse_since("2026-11-29T14:00+01:00") == day + 13 * 3600
    assert parse_since(str(day)) == day and parse_since("1700000000") == 1_700_000_000.0
    assert parse_since(None) is None and parse_since("") is None
    with pytest.raises(ValueError, match=r"^'last tuesday': expected a date like 2026-11-29, an ISO date-time"):
        parse_since("last tuesday")
