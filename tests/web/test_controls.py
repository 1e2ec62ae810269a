"""The operator's controls (issue 12) on a running paper bot, through its own web server over real HTTP: blocking
new entries stops the master's entries at once and never its exits; pausing one follower skips its copied entries
with the reason and still carries out its exits; every action is in the control log with who, from where, when."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.state.records import CopyStatus
from tests.web.conftest import CockpitRun, Traded, master_fills, start_cockpit

TOKEN = "operator-token-0123456789"
WEB = {"WEB_ENABLED": "true", "WEB_PORT": "0", "WEB_TOKEN": TOKEN}


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[CockpitRun]:
    run = start_cockpit(tmp_path, **WEB)
    yield run
    run.stop()


def control(bot: CockpitRun, path: str, **body: object) -> httpx.Response:
    assert bot.cockpit.url is not None
    return httpx.post(f"{bot.cockpit.url}/api/v1/controls/{path}", json={"actor": "ops", **body},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def test_blocking_entries_keeps_every_exit_going(bot: CockpitRun) -> None:
    bot.step_until(lambda: bool(bot.store.positions("kraken", "master")), 24 * 3600, "a master entry")
    blocked_at = bot.run.clock.now()
    bought = master_fills(bot.store, "buy")
    assert control(bot, "entries", blocked=True, reason="CPI release").status_code == 200
    assert control(bot, "accounts/kraken/demo_user_2", paused=True, reason="client asked").status_code == 200
    bot.step_until(lambda: not bot.store.positions("kraken", "master"), 24 * 3600, "the master's exit")
    bot.step(600)
    sells = master_fills(bot.store, "sell")
    assert sells and all(f.time >= blocked_at for f in sells)  # the master's exits ran while entries were blocked
    assert master_fills(bot.store, "buy") == bought  # and no new entry
    for follower in ("demo_user_1", "demo_user_2"):  # the paused follower's exit copy too
        exits = [e for e in bot.store.copies(follower_id=follower) if e.side == "sell"]
        assert exits and all(e.status is CopyStatus.FILLED for e in exits), exits
        assert not bot.store.positions("kraken", follower)
    log = httpx.get(f"{bot.cockpit.url}/api/v1/controls", timeout=10).json()
    assert [(e["action"], e["actor"], e["address"], e["reason"]) for e in log["log"]] == [
        ("pause_entries", "ops", "127.0.0.1", "client asked"), ("block_entries", "ops", "127.0.0.1", "CPI release")]
    assert log["entries_blocked"]["actor"] == "ops" and log["writable"] is True
    page = httpx.get(bot.cockpit.url, timeout=10).text
    assert "New entries are BLOCKED on every account by ops" in page and "Exits keep working." in page


def test_blocked_from_the_start_the_master_does_not_enter(bot: CockpitRun, traded: Traded) -> None:
    assert control(bot, "entries", blocked=True).status_code == 200
    # The same seeded market and clock as the `traded` run, where the master had bought by now.
    bot.step_until(lambda: bot.run.clock.now() >= traded.bought_at + 1800, 24 * 3600, "time to pass")
    assert master_fills(bot.store) == [] and bot.store.signals("kraken") == []
    assert control(bot, "entries", blocked=False).status_code == 200
    assert httpx.get(f"{bot.cockpit.url}/api/v1/controls", timeout=10).json()["entries_blocked"] is None


def test_a_paused_follower_skips_copied_entries_with_the_reason(bot: CockpitRun) -> None:
    assert control(bot, "accounts/kraken/demo_user_2", paused=True, reason="withdrawing").status_code == 200
    bot.step_until(lambda: bool(master_fills(bot.store, "buy")), 24 * 3600, "a master entry")
    bot.step()
    signal = bot.store.signals("kraken")[0]  # the master's first entry
    copies = {e.follower_id: e for e in bot.store.copies(signal_id=signal.signal_id)}
    assert copies["demo_user_1"].status is CopyStatus.FILLED
    assert copies["demo_user_2"].status is CopyStatus.SKIPPED
    assert copies["demo_user_2"].reason == (
        "new entries paused by ops (operator control): withdrawing; exits keep working")
    accounts = {a["account_id"]: a for a in httpx.get(f"{bot.cockpit.url}/api/v1/accounts", timeout=10).json()}
    assert accounts["demo_user_2"]["entries_paused"] is not None and accounts["demo_user_1"]["entries_paused"] is None
    assert control(bot, "accounts/kraken/demo_user_2", paused=False).json()["action"] == "resume_entries"
    assert control(bot, "accounts/kraken/nobody", paused=True).status_code == 404
