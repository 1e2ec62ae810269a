"""Each brokerage is independent (issue 6): one that is down, or whose keys are refused, leaves the other's
threads on schedule. Faults are injected on one simulator face only."""

from __future__ import annotations

from collections.abc import Callable

from bot.state.records import HealthStatus
from tests.e2e.conftest import PaperRun

MINUTE = 60.0


def cycles(run: PaperRun, broker: str, account_id: str) -> int:
    health = run.store.get_health(broker, account_id)
    return health.cycles if health is not None else 0


def test_a_hung_brokerage_leaves_the_others_cycles_on_schedule(paper_factory: Callable[..., PaperRun]) -> None:
    run = paper_factory(("kraken", "coinbase"), MONITOR_SECONDS="60", LOW_CAPITAL_MONITOR_SECONDS="60",
                        EXCHANGE_TIMEOUT_SECONDS="0.5", BACKOFF_MAX_SECONDS="120")
    run.trader.start()
    run.run_for(10 * MINUTE)
    assert run.store.get_health("coinbase", "master").consecutive_errors == 0  # type: ignore[union-attr]
    before = {a: cycles(run, "kraken", a) for a in ("master", "demo_user_1", "demo_user_2")}
    # Coinbase goes down: every request hangs past the client's time-out.
    run.session.exchange.faults.set(face="coinbase", hang_rate=1.0, hang_seconds=1.0)
    run.run_for(30 * MINUTE, brokers=("kraken",))
    after = {a: cycles(run, "kraken", a) for a in before}
    for account_id in before:
        # one pass a minute, exactly as scheduled, none failed
        assert after[account_id] - before[account_id] == 30, account_id
        assert run.store.get_health("kraken", account_id).consecutive_errors == 0  # type: ignore[union-attr]
    # Now wait for Coinbase's threads too (each hung call ends at the client's time-out), fault still on.
    run.run_for(2 * MINUTE)
    run.session.exchange.faults.clear()
    coinbase = run.store.get_health("coinbase", "master")
    assert coinbase is not None and coinbase.consecutive_errors > 0 and "ExchangeUnavailable" in coinbase.last_error
    # Back up: Coinbase's threads recover by themselves (their back-off is capped at 2 minutes).
    run.run_for(10 * MINUTE)
    recovering = run.store.get_health("coinbase", "master")
    assert recovering is not None and recovering.consecutive_errors == 0
    # Health looks at the last HEALTH_WINDOW_PASSES (20) passes: the outage's failures count until they leave it.
    assert recovering.status is HealthStatus.DEGRADED and "of the last 20 passes failed" in recovering.reason
    run.run_for(20 * MINUTE)
    recovered = run.store.get_health("coinbase", "master")
    assert recovered is not None and recovered.status is HealthStatus.HEALTHY and recovered.recent_failed_passes == 0


def test_refused_keys_stop_that_brokerage_only_with_the_reason(paper_factory: Callable[..., PaperRun]) -> None:
    run = paper_factory(("kraken", "alpaca"), MONITOR_SECONDS="60", LOW_CAPITAL_MONITOR_SECONDS="60")
    run.trader.start()
    run.run_for(5 * MINUTE)
    run.session.exchange.faults.set(face="kraken", forced_error="EAPI:Invalid key", error_rate=1.0)
    run.run_for(5 * MINUTE)
    run.session.exchange.faults.clear()
    for account_id in ("master", "demo_user_1", "demo_user_2"):
        state = run.store.get_account_state("kraken", account_id)
        assert state is not None and state.state == "AUTH_FAILED" and "Invalid key" in state.reason, state
        assert state.fix  # the exact fix is stored with it
        worker = next(w for w in run.trader.workers() if w.name == f"kraken:{account_id}")
        assert not worker.is_alive()
    alpaca_before = cycles(run, "alpaca", "master")
    run.run_for(5 * MINUTE)
    assert cycles(run, "alpaca", "master") - alpaca_before == 5
    assert all(w.is_alive() for w in run.trader.workers() if w.account.broker == "alpaca")
    assert "kraken:master STOPPED" in run.out.getvalue()
