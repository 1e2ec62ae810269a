"""A stop that stops (issue 11, #3): after SIGINT/SIGTERM no new order starts anywhere, every thread ends before
the store closes, and the process exits 0 within SHUTDOWN_TIMEOUT_SECONDS (5 s), also with 300 ms of exchange
latency, while waiting for Kraken's rate counter, and at any moment of start-up.

The bot is a real `python bot.py run` process in live mode, signalled for real, against the simulator this
test serves (scripts/benchmarks/_live_harness.py): what reached the exchange, and when, is the evidence.
"""

from __future__ import annotations

import signal

import pytest

from bot.sim.standalone import wait_for
from scripts.benchmarks._live_harness import STOP_LIMIT_SECONDS, BotProcess, LiveExchange

LATENCY = 0.3


def _stopped_cleanly(bot: BotProcess) -> str:
    code = bot.wait_exit(30)
    text = bot.text()
    assert code == 0, text[-3000:]
    assert bot.stop_seconds() < STOP_LIMIT_SECONDS, f"stop took {bot.stop_seconds():.2f} s\n{text[-3000:]}"
    assert not bot.printed_traceback(), text
    assert "KeyboardInterrupt" not in text
    return text


def test_sigterm_with_300ms_latency_stops_in_time_and_starts_no_order_after_it(live_exchange: LiveExchange) -> None:
    live = live_exchange
    live.set_latency(LATENCY)
    bot = live.start_bot()
    wait_for(lambda: len(live.orders()) >= 2, 120, "the master's first orders", alive=lambda: bot.alive)
    bot.send(signal.SIGTERM)  # orders are flowing: the master's, its followers' copies
    _stopped_cleanly(bot)
    assert bot.signalled_wall is not None
    # Nothing recorded as started after the signal, and nothing reached the exchange later than a request
    # already on the wire could (one latency), with a margin for the machine.
    assert live.orders_started_after_signal(bot) == []
    arrived_late = [o.client_order_id for o in live.orders() if o.created_at > bot.signalled_wall + LATENCY + 0.7]
    assert arrived_late == []
    # Every order the exchange has is in the store: settled, or in flight for the next start to look up.
    known = {str(row[0]) for row in live.store_rows("SELECT client_order_id FROM orders")}
    assert {o.client_order_id for o in live.orders()} <= known


def test_sigterm_while_waiting_for_the_rate_counter_stops_in_time(live_exchange: LiveExchange) -> None:
    live = live_exchange
    bot = live.start_bot(KRAKEN_RATE_COUNTER_MAX="3", KRAKEN_RATE_DECAY_PER_SECOND="0.02", KRAKEN_RATE_HEADROOM="0")
    # Three calls fill the counter; the master's next private call waits ~50 s for it to drain.
    wait_for(lambda: live.private_calls("master") >= 3, 90, "the master's first private calls", alive=lambda: bot.alive)
    bot.wait_for_text(r"waiting about \d+ s for Kraken's rate counter", 30)
    bot.send(signal.SIGTERM)
    _stopped_cleanly(bot)
    assert live.rejected.get("EAPI:Rate limit exceeded", 0) == 0


@pytest.mark.parametrize("moment", [r"^settings: ", r"Orders go to:", r"accounts at start-up", r"thread started"])
def test_ctrl_c_at_any_moment_of_start_up_ends_quietly_with_exit_0(live_exchange: LiveExchange, moment: str) -> None:
    live_exchange.set_latency(LATENCY)  # every start-up step takes a while: the signal lands inside one
    bot = live_exchange.start_bot()
    bot.wait_for_text(moment, 90)
    bot.send(signal.SIGINT)
    text = _stopped_cleanly(bot)
    assert "SIGINT received: stopping" in text


def test_signals_in_a_burst_stop_the_bot_in_time_whichever_thread_the_kernel_gives_them_to(
    live_exchange: LiveExchange,
) -> None:
    # The kernel hands a process's signal to any thread not blocking it; a Python handler runs only on the
    # main thread, which slept through its re-check interval (60 s here) when the signal went elsewhere.
    for _ in range(3):
        bot = live_exchange.start_bot(RECHECK_INTERVAL_SECONDS="60")
        bot.wait_for_text(r"thread started", 90)
        bot.send(signal.SIGTERM)
        bot.process.send_signal(signal.SIGINT)  # an impatient second Ctrl-C
        bot.process.send_signal(signal.SIGTERM)
        text = _stopped_cleanly(bot)
        assert "final summary" in text and "already stopping" in text


def test_sigterm_while_start_up_waits_to_probe_an_exchange_again(live_exchange: LiveExchange) -> None:
    assert live_exchange.exchange is not None
    live_exchange.exchange.faults.set(face="kraken", http_5xx_rate=1.0)  # the exchange answers nothing useful
    bot = live_exchange.start_bot(PROBE_RETRY_SECONDS="60", PROBE_ATTEMPTS="5")
    bot.wait_for_text(r"exchange did not answer .*; probe 2 of 5 in 60 s", 90)
    bot.send(signal.SIGTERM)
    _stopped_cleanly(bot)


def test_a_call_hanging_past_the_deadline_is_cut_and_the_stop_still_takes_under_5_s(
    live_exchange: LiveExchange,
) -> None:
    live = live_exchange
    assert live.exchange is not None
    bot = live.start_bot(EXCHANGE_TIMEOUT_SECONDS="60")
    bot.wait_for_text(r"thread started", 90)
    live.exchange.faults.set(face="kraken", endpoint="BalanceEx", hang_rate=1.0, hang_seconds=90.0)
    calls = live.private_calls()
    wait_for(lambda: live.private_calls() > calls, 30, "a balance read that hangs", alive=lambda: bot.alive)
    bot.send(signal.SIGTERM)  # threads are inside a call the exchange answers in 90 s, the client gives it 60
    text = _stopped_cleanly(bot)
    assert "connection(s) cut" in text
