"""The pages, server-rendered over a real paper run's store: every account by brokerage with its state and money,
each master fill with every follower's outcome and the reason, the followers beside their master, trades; and
the live part alone when the page's script asks for it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from bot.config.settings import load_settings
from bot.state.operator import BotRun, ControlEvent, EntryPause, EquitySample, OperatorStore
from bot.state.readmodel import ReadModel
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate
from bot.web.board import Board
from bot.web.metrics import Metrics
from bot.web.render import curve
from tests.web.conftest import Traded


class Rows(HTMLParser):
    """The data-* attributes of every element, to find rows as a browser's script would."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if any(name.startswith("data-") for name in values):
            self.found.append({"tag": tag, **values})


def rows(html: str, attribute: str) -> list[dict[str, str | None]]:
    parser = Rows()
    parser.feed(html)
    return [r for r in parser.found if attribute in r]


@pytest.fixture(scope="module")
def client(traded: Traded) -> Iterator[TestClient]:
    read, operator = ReadModel(traded.path), OperatorStore(traded.path, read_only=True)
    board = Board(read, operator, load_settings({}, env_file=None))
    with TestClient(create_app(board, Gate("127.0.0.1", None), Metrics(board), WebOptions(False, 2.0, 300))) as c:
        yield c
    read.close()
    operator.close()


def test_accounts_page_shows_each_follower_under_its_master_with_state_and_money(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    accounts = rows(page.text, "data-account")
    assert [(a["data-account"], a["data-state"]) for a in accounts if a["tag"] == "tr"] == [
        ("kraken:master", "TRADING"), ("kraken:demo_user_1", "FOLLOWING"), ("kraken:demo_user_2", "FOLLOWING")]
    assert "copies kraken:master" in page.text and "P&amp;L total" in page.text
    assert 'name="viewport"' in page.text  # reads on a phone
    assert "■ stopped" in page.text and "shown from the store" in page.text


def test_copy_page_shows_every_outcome_with_its_reason_and_the_tracking_difference(client: TestClient) -> None:
    page = client.get("/copy").text
    copies = rows(page, "data-status")
    signals = client.get("/api/v1/signals").json()
    assert len(copies) == sum(len(s["copies"]) for s in signals)
    statuses = {c["data-status"] for c in copies}
    assert "filled" in statuses and statuses <= {"filled", "skipped"}
    for signal in signals:
        for copy in signal["copies"]:
            assert copy["reason"].replace("&", "&amp;") in page  # the sizing arithmetic or the sale, in words
    tracking = rows(page, "data-follower")
    assert {t["data-follower"] for t in tracking if t["tag"] == "tr"} == {"demo_user_1", "demo_user_2"}
    assert "Tracking difference" in page and "Return per trip: follower / master" in page


def test_account_page_draws_the_equity_curve_and_lists_trades(client: TestClient) -> None:
    page = client.get("/accounts/kraken/demo_user_2").text
    assert re.search(r'<path class="line" d="M[0-9.]+,[0-9.]+( L[0-9.]+,[0-9.]+)+"', page)
    assert "copy exit" in page and "kraken:demo_user_2" in page
    assert client.get("/accounts/kraken/nobody").status_code == 404


def test_the_curve_draws_every_point_the_store_gives_it() -> None:
    """The store thins to EQUITY_CURVE_POINTS (up to 20,000); drawing must not thin again to a number of its own."""
    drawn = curve([(float(t), 100.0 + t % 7) for t in range(1500)])
    assert drawn is not None and drawn.path.count(" L") == 1499


def test_trades_page_filters_by_account(client: TestClient) -> None:
    everything = client.get("/trades").text
    one = client.get("/trades", params={"account": "kraken:demo_user_1"}).text
    assert "kraken:demo_user_2" in everything.split("<tbody>")[1]
    assert "kraken:demo_user_2" not in one.split("<tbody>")[1] and "kraken:demo_user_1" in one.split("<tbody>")[1]


def test_the_script_gets_the_live_part_alone_and_a_version_to_poll(client: TestClient) -> None:
    whole = client.get("/copy").text
    part = client.get("/copy", headers={"X-Fragment": "1"}).text
    assert "<html" not in part and "<header" not in part.split("<article")[0]
    assert part.strip() and part.strip() in whole
    version = client.get("/ui/version").json()
    assert set(version) == {"version", "running", "text", "line"} and version["running"] is False
    assert 'data-fragment="/copy"' in whole and f'data-version="{version["version"]}"' in whole


class CountingOperator(OperatorStore):
    """The operator store, counting the reads a request makes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reads: Counter[str] = Counter()

    def last_run(self) -> BotRun | None:
        self.reads["last_run"] += 1
        return super().last_run()

    def entry_pauses(self) -> list[EntryPause]:
        self.reads["entry_pauses"] += 1
        return super().entry_pauses()

    def control_log(self, limit: int = 100) -> list[ControlEvent]:
        self.reads["control_log"] += 1
        return super().control_log(limit)

    def equity_at(self, broker: str, account_id: str, since: float | None = None) -> EquitySample | None:
        self.reads[f"equity_at {account_id}"] += 1
        return super().equity_at(broker, account_id, since)

    def latest_equity(self, broker: str, account_id: str) -> EquitySample | None:
        self.reads[f"latest_equity {account_id}"] += 1
        return super().latest_equity(broker, account_id)


def test_a_page_reads_the_bot_and_the_controls_once_and_the_log_only_where_shown(traded: Traded) -> None:
    read, operator = ReadModel(traded.path), CountingOperator(traded.path, read_only=True)
    board = Board(read, operator, load_settings({}, env_file=None))
    with TestClient(create_app(board, Gate("127.0.0.1", None), Metrics(board), WebOptions(False, 2.0, 300))) as c:
        for path, log_reads in (("/", 0), ("/accounts/kraken/demo_user_1", 0), ("/copy", 0), ("/controls", 1)):
            operator.reads.clear()
            assert c.get(path).status_code == 200
            page_reads = {n: k for n, k in operator.reads.items() if not n.startswith(("equity_at", "latest_equity"))}
            assert page_reads == +Counter(last_run=1, entry_pauses=1, control_log=log_reads), path
        operator.reads.clear()
        assert c.get("/ui/version").status_code == 200 and operator.reads == {"last_run": 1}
    read.close()
    operator.close()


def test_the_tracking_reads_the_masters_first_and_latest_equity_once_for_all_its_followers(traded: Traded) -> None:
    read, operator = ReadModel(traded.path), CountingOperator(traded.path, read_only=True)
    board = Board(read, operator, load_settings({}, env_file=None))
    rows = board.tracking("kraken")
    assert len(rows) == 2 and all(r.master_equity_return_pct is not None for r in rows)
    assert operator.reads["latest_equity master"] == 1 and operator.reads["equity_at master"] <= 1 + len(rows)
    for row in rows:  # each account's return from its first sample within the window to its latest
        for account_id, shown in ((row.follower_id, row.follower_equity_return_pct),
                                  ("master", row.master_equity_return_pct)):
            first = operator.equity_at("kraken", account_id, row.window_start)
            last = operator.latest_equity("kraken", account_id)
            assert first is not None and last is not None
            assert shown == pytest.approx(100.0 * (last.equity / first.equity - 1.0))
    read.close()
    operator.close()
