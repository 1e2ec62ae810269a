"""Copy log lines carry the follower's account label, whichever pool thread ran the copy (not "[nija]")."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.brokers.base import Side
from bot.logsetup import setup_logging
from tests.copy.conftest import Desk, master_trade, team


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = setup_logging("INFO", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_each_copys_lines_carry_its_followers_label(desk: Desk, log_output: io.StringIO) -> None:
    followers = [desk.follower("alice", 2_500.0), desk.follower("tiny", 5.0)]
    t = team(desk, followers)
    signal = master_trade(t, Side.BUY, quote=1_000.0)
    t.copy_until_done()
    t.close()
    summary = t.dispatcher.summary(signal.signal_id)
    assert summary.succeeded == 1 and "tiny" in summary.skipped
    lines = log_output.getvalue().splitlines()
    copied = [line for line in lines if " COPY_ENTRY FILLED " in line]
    skipped = [line for line in lines if " skips BUY " in line]
    assert len(copied) == 1 and f"[{desk.label('alice')}] " in copied[0]
    assert len(skipped) == 1 and f"[{desk.label('tiny')}] " in skipped[0]
    # The summary is the coordinating thread's, which acts for no single account.
    assert any("[nija] copy summary" in line for line in lines)
