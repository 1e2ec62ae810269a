"""The cockpit beside a running paper bot (issue 12): notifications from start to stop through Apprise to a local
json:// receiver, a notification service that hangs never holding the trader, /healthz judging the threads."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.web.live import StuckWatch, ThreadSnapshot
from bot.web.metrics import ErrorCounter
from tests.notify.conftest import Receiver
from tests.web.conftest import master_fills, start_cockpit


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_the_running_bot_tells_its_start_each_master_fill_and_its_stop(tmp_path: Path, receiver: Receiver) -> None:
    bot = start_cockpit(tmp_path, NOTIFY_URLS=receiver.url, NOTIFY_BATCH_SECONDS="0")
    try:
        started = receiver.wait_for(1)
        assert started[0]["title"] == "NIJA: started"
        assert "kraken:master TRADING 10,000.00 USD" in str(started[0]["message"])
        bot.step_until(lambda: bool(master_fills(bot.store, "buy")), 24 * 3600, "a master entry")
        bot.step()
        fill = receiver.wait_for(2)[1]
        assert fill["title"] in ("NIJA: master fill", "NIJA: 2 x master fill")
        assert str(fill["message"]).startswith("kraken:master BUY") and "copies: 2 filled" in str(fill["message"])
    finally:
        bot.stop()
    stopped = receiver.wait_for_title("NIJA: stopped")
    assert "stopped cleanly" in str(stopped["message"]) and receiver.messages[-1] == stopped
    assert receiver.url.split("/")[2] not in json.dumps(receiver.messages)  # where it posts is never in the text


def test_a_hung_notification_service_never_holds_the_trader(tmp_path: Path, receiver: Receiver) -> None:
    receiver.hold.clear()  # takes every message and never answers until the test ends
    bot = start_cockpit(tmp_path, NOTIFY_URLS=receiver.url, NOTIFY_BATCH_SECONDS="0", NOTIFY_FLUSH_SECONDS="0.2")
    try:
        receiver.wait_arrived(1)  # the start message is stuck in the service
        bot.step_until(lambda: bool(master_fills(bot.store, "buy")), 24 * 3600, "a master entry")
        bot.step()
        signal = bot.store.signals("kraken")[0]  # the first master fill and its copies, all done meanwhile
        copies = bot.store.copies(signal_id=signal.signal_id)
        assert sorted(str(c.status) for c in copies) == ["filled", "filled"]
        assert bot.cockpit.notifier is not None and bot.cockpit.notifier.pending() >= 1
    finally:
        bot.stop()  # returns: the stop gives the service NOTIFY_FLUSH_SECONDS, not forever


def test_healthz_in_the_running_bot_judges_its_threads(tmp_path: Path) -> None:
    bot = start_cockpit(tmp_path, WEB_ENABLED="true", WEB_PORT="0", start_trader=False)
    try:
        url = bot.cockpit.url
        starting = httpx.get(f"{url}/healthz", timeout=10)  # served from the first moment, before the accounts
        assert starting.status_code == 503 and starting.json()["problems"] == [
            "starting up: connecting and checking the accounts"]
        bot.run.trader.start()
        bot.cockpit.trader_started()
        answer = httpx.get(f"{url}/healthz", timeout=10)
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        assert body["ok"] is True and body["bot"]["running"] is True
        assert body["threads"] == 4  # the three accounts' threads and kraken's copy thread
        assert body["bot"]["served_by"] == "the running bot"
        bot.step()
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
                   for s in f.samples}
        calls = {labels: value for (name, labels), value in metrics.items()
                 if name == "nija_exchange_call_seconds_count"}
        assert calls and all(dict(labels)["broker"] == "kraken" for labels in calls)  # the adapters' telemetry
        assert sum(v for labels, v in calls.items() if dict(labels)["outcome"] == "ok") > 0
    finally:
        bot.stop()


def test_with_the_web_off_nothing_counts_errors_or_times_exchange_calls_for_metrics_nobody_serves(
    tmp_path: Path,
) -> None:
    bot = start_cockpit(tmp_path)  # WEB_ENABLED=false
    try:
        bot.step()
        assert bot.cockpit.url is None and bot.cockpit.metrics is None
        assert not any(isinstance(h, ErrorCounter) for h in logging.getLogger().handlers)
    finally:
        bot.stop()


def snapshot(label: str = "kraken:master", *, cycles: int = 5, waiting: bool = False, alive: bool = True,
             should_run: bool = True, started: bool = True) -> ThreadSnapshot:
    return ThreadSnapshot(label, "kraken", label.split(":")[1], "TRADING", should_run, started, alive, waiting,
                          cycles, 1.0)


def test_stuck_watch_tells_a_thread_stuck_in_one_pass_from_one_waiting_for_its_next() -> None:
    now = [100.0]
    watch = StuckWatch(60.0, monotonic=lambda: now[0])
    assert [v.ok for v in watch.verdicts([snapshot(waiting=True)])] == [True]
    assert [v.ok for v in watch.verdicts([snapshot()])] == [True]  # working since now
    now[0] += 61
    [stuck] = watch.verdicts([snapshot()])
    assert not stuck.ok and stuck.problem == "kraken:master has been inside one pass for 61 s (limit 60 s)"
    assert [v.ok for v in watch.verdicts([snapshot(cycles=6)])] == [True]  # it moved on
    now[0] += 3600
    assert [v.ok for v in watch.verdicts([snapshot(cycles=7, waiting=True)])] == [True]  # a long wait is fine
    [dead] = watch.verdicts([snapshot(alive=False)])
    assert dead.problem == "kraken:master is TRADING but its thread has ended"
    [never] = watch.verdicts([snapshot(started=False, alive=False)])
    assert never.problem == "kraken:master is TRADING but its thread has not started"
    assert watch.verdicts([snapshot(alive=False, should_run=False)]) == []  # AUTH_FAILED etc.: no thread expected
