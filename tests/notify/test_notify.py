"""Notifications (issue 12) through Apprise to a local json:// receiver: one message per kind of news, bursts
batched, nothing told twice or lost across a restart, failures logged and never fatal, a slow service never
waited for, text redacted like the logs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.logsetup import redactor, register_secrets
from bot.notify.news import COPY_FAILED, DAILY, DEADLOCK, MASTER_FILL, START, STATE_CHANGE, STOP, NewsReader, Notice
from bot.notify.sender import AppriseDelivery, Notifier, register_url_secrets
from bot.state.operator import OperatorStore
from bot.state.readmodel import ReadModel
from bot.state.records import AccountStateRecord, CopyRecord, CopyStatus, SignalRecord
from bot.state.store import StateStore
from tests.notify.conftest import Receiver

NOW = 1_750_000_000.0


@dataclass
class Desk:
    """A state store the bot would write, the cockpit's read side of it, and a clock."""

    store: StateStore
    read: ReadModel
    operator: OperatorStore
    clock: ManualClock

    def reader(self, daily_hour: int = -1, first_seen: float = NOW) -> NewsReader:
        """A reader as a bot starting at wall time ``first_seen`` makes it."""
        return NewsReader(self.read, self.operator, daily_hour=daily_hour, wall=lambda: first_seen)

    def state(self, account_id: str, state: str, reason: str = "", fix: str = "", role: str = "user") -> None:
        self.store.save_account_state(AccountStateRecord("kraken", account_id, role, state, reason or state, fix,
                                                         equity=1_000.0, cash=900.0))

    def fan_out(self, signal_id: str, outcomes: dict[str, tuple[CopyStatus, str]], side: str = "buy") -> None:
        """A master fill and its copies, as the copy engine leaves them when the fan-out is done."""
        self.clock.advance(1.0)
        self.store.record_signal(SignalRecord(signal_id, "kraken", "ETH-USD", side, Decimal("2000"), Decimal("0.5"),
                                              Decimal("1000"), f"mo-{signal_id}", 10_000.0, self.clock.now(),
                                              fraction_sold=Decimal(1) if side == "sell" else None))
        for follower, (status, reason) in outcomes.items():
            self.store.add_copy(CopyRecord(signal_id, "kraken", follower, status, f"c-{signal_id}-{follower}",
                                           side, "ETH-USD", reason))
        self.store.complete_signal(signal_id, {"processed": len(outcomes)})

    def notifier(self, receiver: Receiver, batch_seconds: float = 0.0, queue_size: int = 100) -> Notifier:
        return Notifier(AppriseDelivery(receiver.url), batch_seconds=batch_seconds, queue_size=queue_size,
                        on_delivered=self.commit).start()

    def commit(self, notices: list[Notice]) -> None:
        for notice in notices:
            if notice.cursor is not None:
                self.operator.save_cursor(*notice.cursor)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = ManualClock(NOW)
    path = tmp_path / "nija.sqlite3"
    store = StateStore(path, clock=clock)
    store.save_account_state(AccountStateRecord("kraken", "master", "master", "TRADING", "runs APEX", ""))
    store.save_account_state(AccountStateRecord("kraken", "alice", "user", "FOLLOWING", "copies", ""))
    found = Desk(store, ReadModel(path), OperatorStore(path), clock)
    yield found
    found.read.close()
    found.operator.close()
    store.close()


def titles(messages: list[dict[str, object]]) -> list[str]:
    return sorted(str(m["title"]) for m in messages)


def test_one_message_per_kind_of_news(desk: Desk, receiver: Receiver) -> None:
    reader = desk.reader(daily_hour=0, first_seen=NOW - 86_400)  # started yesterday: today's summary is due
    notifier = desk.notifier(receiver, batch_seconds=0.5)
    notifier.submit(Notice(START, "NIJA started in paper mode"))
    desk.fan_out("s1", {"alice": (CopyStatus.FILLED, "buy 250.00 USD: 1000.00 x 2500.00 / 10000.00 x 1 = 250.00"),
                        "bob": (CopyStatus.SKIPPED, "under the exchange minimum")})
    desk.fan_out("s2", {"alice": (CopyStatus.FAILED, "EOrder:Insufficient funds")}, side="sell")
    desk.state("alice", "MASTER_OFFLINE", "kraken:master has been silent for 12 min", "check the master's thread")
    for notice in reader.poll(desk.clock.now(), NOW):
        notifier.submit(notice)
    notifier.submit(Notice(STOP, "NIJA stopped (stopped cleanly)"))
    assert notifier.close(20.0)
    messages = receiver.wait_for(7)
    assert titles(messages) == sorted(["NIJA: started", "NIJA: 2 x master fill", "NIJA: copy failed",
                                       "NIJA: account state", "NIJA: DEADLOCK", "NIJA: daily summary", "NIJA: stopped"])
    by_title = {m["title"]: str(m["message"]) for m in messages}
    fills = by_title["NIJA: 2 x master fill"]
    assert "kraken:master BUY 0.5 ETH-USD @ 2000; copies: 1 filled, 1 skipped; bob skipped: under the exchange" in fills
    assert "kraken:master SELL 0.5 ETH-USD @ 2000 (100% of the position); copies: 1 failed" in fills
    assert by_title["NIJA: copy failed"] == (
        "kraken:alice could not copy kraken:master's SELL ETH-USD: EOrder:Insufficient funds")
    assert by_title["NIJA: account state"] == ("kraken:alice FOLLOWING -> MASTER_OFFLINE: kraken:master has been "
                                               "silent for 12 min Fix: check the master's thread")
    assert by_title["NIJA: DEADLOCK"].startswith("DEADLOCK on kraken: kraken:alice stand down")
    assert by_title["NIJA: daily summary"].startswith("last 24 h, 2 account(s)")
    assert {m["type"] for m in messages if m["title"] == "NIJA: copy failed"} == {"warning"}
    assert {m["type"] for m in messages if m["title"] == "NIJA: started"} == {"info"}


def test_a_burst_is_sent_as_one_message(desk: Desk, receiver: Receiver) -> None:
    reader = desk.reader()
    for n in range(25):
        desk.fan_out(f"s{n:02d}", {"alice": (CopyStatus.FILLED, "ok")})
    notifier = desk.notifier(receiver, batch_seconds=0.5)
    for notice in reader.poll(desk.clock.now(), NOW):
        notifier.submit(notice)
    assert notifier.close(20.0)
    [message] = receiver.wait_for(1)
    assert message["title"] == "NIJA: 25 x master fill" and str(message["message"]).count("\n") == 24


def test_nothing_is_told_twice_or_lost_across_a_restart(desk: Desk, receiver: Receiver) -> None:
    desk.fan_out("old", {"alice": (CopyStatus.FILLED, "ok")})
    first = desk.reader()  # a store seen for the first time starts at its end: its history is not news
    desk.fan_out("s1", {"alice": (CopyStatus.FILLED, "one")})
    notifier = desk.notifier(receiver)
    for notice in first.poll(desk.clock.now(), NOW):
        notifier.submit(notice)
    assert notifier.close(20.0)
    assert [m["message"] for m in receiver.wait_for(1)] == [
        "kraken:master BUY 0.5 ETH-USD @ 2000; copies: 1 filled"]
    # The bot stops; a fill happens meanwhile (or was queued but never sent); a new run tells it, and only it.
    desk.fan_out("s2", {"alice": (CopyStatus.SKIPPED, "two")})
    unsent = desk.reader().poll(desk.clock.now(), NOW)
    assert len(unsent) == 1  # read, never delivered (the process died): its cursor did not move
    again = desk.reader()
    notifier = desk.notifier(receiver)
    for notice in again.poll(desk.clock.now(), NOW):
        notifier.submit(notice)
    assert notifier.close(20.0)
    messages = receiver.wait_for(2)
    assert len(messages) == 2 and "alice skipped: two" in str(messages[1]["message"])
    assert desk.reader().poll(desk.clock.now(), NOW) == []


def test_a_failing_service_is_logged_and_the_next_message_goes(
    desk: Desk, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next = 1
    notifier = desk.notifier(receiver)
    with caplog.at_level(logging.WARNING, logger="bot.notify.sender"):
        notifier.submit(Notice(START, "first"))
        receiver.wait_arrived(1)
        notifier.submit(Notice(STOP, "second"))
        assert notifier.close(20.0)
    assert [m["message"] for m in receiver.wait_for(1)] == ["second"]
    assert (notifier.sent, notifier.failed) == (1, 1)
    assert "notification not delivered: NIJA: started" in caplog.text


def test_a_slow_service_is_never_waited_for_and_a_full_queue_drops_the_oldest(
    desk: Desk, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold.clear()  # the service takes every request and answers nothing until released
    notifier = desk.notifier(receiver, queue_size=10)
    notifier.submit(Notice(STATE_CHANGE, "held"))
    receiver.wait_arrived(1)
    with caplog.at_level(logging.WARNING, logger="bot.notify.sender"):
        for n in range(20):  # returns at once: would hang here (and time out) if submit waited
            notifier.submit(Notice(MASTER_FILL, f"fill {n}"))
    assert notifier.dropped == 10 and notifier.pending() == 10
    assert "oldest notice dropped" in caplog.text
    receiver.hold.set()
    assert notifier.close(20.0)
    messages = receiver.wait_for(2)
    assert str(messages[1]["message"]).splitlines() == [f"fill {n}" for n in range(10, 20)]


def test_messages_pass_the_log_redaction_and_urls_are_secrets(desk: Desk, receiver: Receiver) -> None:
    register_secrets(["sk-live-ABCDEF123456"])
    notifier = desk.notifier(receiver)
    notifier.submit(Notice(COPY_FAILED, "refused: key sk-live-ABCDEF123456 is not allowed"))
    assert notifier.close(20.0)
    assert receiver.wait_for(1)[0]["message"] == "refused: key *** is not allowed"
    register_url_secrets("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100987654321 json://h/x")
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in redactor.redact(
        "sending to tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100987654321 token "
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    with pytest.raises(ValueError, match="NOTIFY_URLS: no valid Apprise URL") as refused:
        AppriseDelivery("not-a-url-at-all-SECRET99")
    assert "SECRET99" not in str(refused.value)


def test_deadlock_and_state_news_are_told_once_and_the_end_of_a_deadlock_too(desk: Desk) -> None:
    reader = desk.reader()
    desk.state("alice", "STANDING_DOWN", "COPY_OBSERVE_ONLY=true", "set COPY_OBSERVE_ONLY=false")
    kinds = [n.kind for n in reader.poll(desk.clock.now(), NOW)]
    assert kinds == [STATE_CHANGE, DEADLOCK]
    assert reader.poll(desk.clock.now(), NOW) == []
    desk.state("alice", "FOLLOWING", "copies kraken:master")
    news = reader.poll(desk.clock.now(), NOW)
    assert [n.kind for n in news] == [STATE_CHANGE, DEADLOCK] and "deadlock is over" in news[1].text
    desk.state("carol", "TRADING", "runs APEX")  # a new account doing what it should is not news
    desk.state("dave", "AUTH_FAILED", "the key was refused", "create a new key")  # a new one in trouble is
    assert [n.text for n in reader.poll(desk.clock.now(), NOW)] == [
        "kraken:dave AUTH_FAILED: the key was refused Fix: create a new key"]


def test_the_daily_summary_comes_once_a_day_at_its_hour(desk: Desk) -> None:
    morning = NOW - NOW % 86_400 + 9 * 3600  # 09:00 UTC
    late = NOW - NOW % 86_400 + 20 * 3600
    assert desk.reader(daily_hour=18, first_seen=late).poll(NOW, late + 60) == []  # a first start is not its hour
    desk.operator.save_cursor("notify.daily", {"date": "2000-01-01"})
    reader = desk.reader(daily_hour=18)
    assert [n.kind for n in reader.poll(NOW, morning)] == []
    assert [n.kind for n in reader.poll(NOW, morning + 9 * 3600)] == [DAILY]
    assert reader.poll(NOW, morning + 10 * 3600) == []
    assert [n.kind for n in reader.poll(NOW, morning + 33 * 3600)] == [DAILY]  # the next day


def test_notifier_close_gives_up_on_a_hung_service_within_its_time(desk: Desk, receiver: Receiver) -> None:
    receiver.hold.clear()
    notifier = desk.notifier(receiver)
    notifier.submit(Notice(STOP, "stopping"))
    receiver.wait_arrived(1)
    done = threading.Event()
    closed = []
    threading.Thread(target=lambda: (closed.append(notifier.close(0.2)), done.set()), daemon=True).start()
    assert done.wait(10.0) and closed == [False]
