"""verify_kraken_trading_enabled against the simulator: every reason the old bot's Kraken did not trade.

Each case asserts the verdict (exit code and state), the reason and the fix text.
"""

from __future__ import annotations

import math
import time

from bot.diagnostics.commands import verify_kraken
from bot.state.store import DEFAULT_FILE_NAME, StateStore
from tests.diagnostics.conftest import Desk, closed_port, fake_kraken_secret


def test_ready_master_and_follower(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    result = desk.run(verify_kraken, "--json")
    assert result.code == 0, result.out
    data = result.data
    assert data["ready"] is True
    master, alice = result.account("kraken:master"), result.account("kraken:alice")
    assert (master["state"], alice["state"]) == ("TRADING", "FOLLOWING")
    assert master["will_trade"] and alice["will_trade"]
    assert master["equity"] == 10_000.0 and alice["equity"] == 2_500.0
    assert "follows kraken:master" in result.check("kraken:alice", "copy mode")["reason"]
    assert [c["name"] for c in master["checks"]] == [
        "enabled", "credentials", "exchange reachable", "credentials accepted", "balance", "order minimum",
        "copy mode", "entry blocking", "position cap",
    ]
    assert all(c["result"] == "pass" for c in master["checks"])
    assert data["verdict"].startswith("VERDICT: Kraken is ready to trade")
    assert data["findings"] == []


def test_text_output_ends_with_one_line_verdict(desk: Desk) -> None:
    desk.master(10_000)
    result = desk.run(verify_kraken)
    assert result.code == 0
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("VERDICT: Kraken is ready to trade (kraken:master TRADING)")


def test_no_credentials_names_the_variables_and_reports_the_deadlock(desk: Desk) -> None:
    desk.user("alice", 2_500)  # a follower, and no master credentials at all
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "NO_CREDENTIALS"
    assert master["credentials"] == "not set" and master["key_fingerprint"] == ""
    assert "KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET are not set" in master["reason"]
    assert master["fix"].startswith("set KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET")
    assert "never Withdraw Funds" in master["fix"]
    assert result.check("kraken:master", "exchange reachable")["result"] == "skip"
    alice = result.account("kraken:alice")
    assert alice["state"] == "MASTER_OFFLINE"
    assert "kraken:master, which is NO_CREDENTIALS" in alice["reason"]
    deadlock = [f for f in result.data["findings"] if f["kind"] == "deadlock"]
    assert len(deadlock) == 1
    assert deadlock[0]["accounts"] == ["kraken:alice"]
    assert "nobody will trade for them" in deadlock[0]["reason"]
    assert "kraken:master is NO_CREDENTIALS" in deadlock[0]["reason"]
    assert "set KRAKEN_MASTER_API_KEY" in deadlock[0]["fix"]


def test_key_without_secret(desk: Desk) -> None:
    desk.set(KRAKEN_MASTER_API_KEY="AAAAKEYWITHOUTSECRET1234")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "BAD_CREDENTIALS"
    assert master["credentials"] == "incomplete"
    assert master["reason"] == "KRAKEN_MASTER_API_KEY is set but KRAKEN_MASTER_API_SECRET is missing"
    assert master["fix"] == "set both KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET from the same Kraken API key"


def test_malformed_secret(desk: Desk) -> None:
    desk.set(KRAKEN_MASTER_API_KEY="AAAAMALFORMEDSECRETKEY99", KRAKEN_MASTER_API_SECRET="this is not base64 at all!!")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "BAD_CREDENTIALS" and master["credentials"] == "malformed"
    assert "KRAKEN_MASTER_API_SECRET is not valid base64" in master["reason"]
    assert master["fix"].startswith("set KRAKEN_MASTER_API_SECRET to the private key exactly as Kraken showed it")


def test_wrong_secret_is_auth_failed_with_the_key_fingerprint(desk: Desk) -> None:
    good = desk.master(10_000)
    desk.set(KRAKEN_MASTER_API_SECRET=fake_kraken_secret(b"wrong"))
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "AUTH_FAILED"
    assert master["key_fingerprint"] == good.fingerprint == f"...{good.api_key[-4:]}"
    assert f"Kraken refused the API key {good.fingerprint}" in master["reason"]
    assert "EAPI:Invalid signature" in master["reason"]
    assert master["fix"].startswith(
        "check that KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET come from the same, still active Kraken key"
    )
    assert result.check("kraken:master", "exchange reachable")["result"] == "pass"
    assert result.check("kraken:master", "credentials accepted")["result"] == "fail"
    assert result.check("kraken:master", "balance")["result"] == "skip"


def test_unknown_key_is_auth_failed(desk: Desk) -> None:
    desk.set(KRAKEN_MASTER_API_KEY="UNKNOWNKEYFORSIMULATOR00", KRAKEN_MASTER_API_SECRET=fake_kraken_secret(b"x"))
    result = desk.run(verify_kraken, "--json")
    master = result.account("kraken:master")
    assert result.code == 1 and master["state"] == "AUTH_FAILED"
    assert master["reason"] == "Kraken refused the API key ...OR00 (EAPI:Invalid key)"


def test_unreachable_exchange(desk: Desk) -> None:
    desk.master(10_000)
    url = f"http://127.0.0.1:{closed_port()}"
    desk.set(KRAKEN_API_URL=url)
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "UNREACHABLE"
    assert master["reason"].startswith(f"Kraken at {url} did not answer: Kraken AssetPairs failed")
    assert "check the network" in master["fix"] and "KRAKEN_API_URL" in master["fix"]
    assert result.check("kraken:master", "exchange reachable")["result"] == "fail"
    assert result.check("kraken:master", "credentials accepted")["result"] == "skip"


def test_unfunded_master_says_how_much_to_deposit_and_deadlocks_followers(desk: Desk) -> None:
    desk.master(0.20)
    desk.user("alice", 2_500)
    desk.user("bob", 900)
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    master = result.account("kraken:master")
    assert master["state"] == "UNFUNDED"
    assert master["reason"] == "equity 0.20 USD is under MINIMUM_FUNDED_BALANCE 0.50 USD"
    minimum, symbol = desk.smallest_order()
    needed = math.ceil(round(max(0.50, minimum / 0.10) * 100, 6)) / 100  # POSITION_MAX_FRACTION 0.10
    deposit = math.ceil(round((max(0.50, minimum / 0.10) - 0.20) * 100, 6)) / 100
    assert master["fix"].startswith(f"deposit at least {deposit:,.2f} USD into this Kraken account")
    assert f"to reach {needed:,.2f} USD" in master["fix"] and symbol in master["fix"]
    for label in ("kraken:alice", "kraken:bob"):
        follower = result.account(label)
        assert follower["state"] == "MASTER_OFFLINE"
        assert "kraken:master, which is UNFUNDED" in follower["reason"]
        assert follower["fix"].startswith("fix kraken:master: deposit at least")
    (deadlock,) = [f for f in result.data["findings"] if f["kind"] == "deadlock"]
    assert deadlock["accounts"] == ["kraken:alice", "kraken:bob"]
    assert deadlock["reason"].startswith("DEADLOCK on Kraken: 2 follower(s) (kraken:alice, kraken:bob)")
    assert "kraken:master is UNFUNDED" in deadlock["reason"]
    assert result.data["verdict"].startswith(
        "VERDICT: Kraken will NOT trade fully: kraken:master UNFUNDED, kraken:alice MASTER_OFFLINE (deadlock), "
        f"kraken:bob MASTER_OFFLINE (deadlock). First fix: deposit at least {deposit:,.2f} USD"
    )


def test_follower_under_the_exchange_minimum(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.user("tiny", 2.0)
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    minimum, symbol = desk.smallest_order()
    assert minimum > 0.20, "the simulator's smallest order must exceed 10% of 2 USD for this case"
    tiny = result.account("kraken:tiny")
    assert tiny["state"] == "BELOW_MINIMUM"
    assert tiny["reason"] == (
        f"its largest order, MAX_USER_RISK 10% of equity 2.00 USD = 0.20 USD, is under Kraken's smallest order "
        f"{minimum:,.2f} USD ({symbol}): every order would be skipped"
    )
    deposit = math.ceil(round((minimum / 0.10 - 2.0) * 100, 6)) / 100
    assert tiny["fix"].startswith(f"deposit at least {deposit:,.2f} USD")
    assert tiny["fix"].endswith("or raise MAX_USER_RISK")
    assert result.check("kraken:tiny", "balance")["result"] == "pass"
    assert result.check("kraken:tiny", "order minimum")["result"] == "fail"
    assert result.account("kraken:alice")["state"] == "FOLLOWING"  # one small account does not block another
    assert "kraken:tiny BELOW_MINIMUM" in result.data["verdict"]


def test_observe_only_is_a_deadlock(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.user("bob", 900)
    desk.set(COPY_OBSERVE_ONLY="true")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    for label in ("kraken:alice", "kraken:bob"):
        follower = result.account(label)
        assert follower["state"] == "STANDING_DOWN"
        assert follower["reason"] == (
            "COPY_OBSERVE_ONLY=true: the copy engine only logs kraken:master's trades, so this follower never trades"
        )
        assert follower["fix"].startswith("set COPY_OBSERVE_ONLY=false")
    master_copy = result.check("kraken:master", "copy mode")
    assert master_copy["result"] == "warn" and "2 follower(s) will not trade" in master_copy["reason"]
    (deadlock,) = [f for f in result.data["findings"] if f["kind"] == "deadlock"]
    assert "COPY_OBSERVE_ONLY=true, so the copy engine places nothing for them" in deadlock["reason"]
    assert deadlock["fix"].startswith("set COPY_OBSERVE_ONLY=false")
    verdict = result.data["verdict"]
    assert verdict.startswith("VERDICT: Kraken will NOT trade fully: kraken:alice STANDING_DOWN (deadlock), "
                              "kraken:bob STANDING_DOWN (deadlock). First fix: set COPY_OBSERVE_ONLY=false")


def test_independent_mode_has_no_deadlock_under_observe_only(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.set(COPY_OBSERVE_ONLY="true", COPY_TRADING_MODE="INDEPENDENT")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 0, result.out
    alice = result.account("kraken:alice")
    assert alice["state"] == "TRADING" and "COPY_TRADING_MODE=INDEPENDENT" in alice["reason"]
    assert result.data["findings"] == []


def test_entry_blocking(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.set(ENTRY_BLOCKING="true")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    for label in ("kraken:master", "kraken:alice"):
        account = result.account(label)
        assert account["state"] == "ENTRY_BLOCKED"
        assert account["reason"] == "ENTRY_BLOCKING=true: no new entries anywhere; exits of open positions continue"
        assert account["fix"] == "set ENTRY_BLOCKING=false when new entries should resume"
        assert result.check(label, "entry blocking")["result"] == "fail"
    assert result.data["findings"] == []  # entry blocking is not a deadlock: the master stands down too


def test_live_trading_off_blocks(desk: Desk) -> None:
    desk.master(10_000)
    desk.set(LIVE_TRADING="false")
    result = desk.run(verify_kraken, "--json")
    assert result.code == 1
    (live,) = [c for c in result.data["bot_checks"] if c["name"] == "live trading"]
    assert live["result"] == "fail"
    assert "sends no order to any exchange" in live["reason"]
    assert live["fix"] == "set LIVE_TRADING=true to trade these accounts for real"
    assert result.account("kraken:master")["state"] == "TRADING"  # the account itself is fine


def test_disabled_user_does_not_block(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("carol", None, enabled=False)
    result = desk.run(verify_kraken, "--json")
    assert result.code == 0, result.out
    carol = result.account("kraken:carol")
    assert carol["state"] == "DISABLED"
    assert carol["fix"] == f'set "enabled": true in {desk.tmp / "users" / "carol.json"}'
    assert result.check("kraken:carol", "enabled")["result"] == "warn"


def _stale_store(desk: Desk, age: float | None) -> None:
    state = desk.tmp / "state"
    state.mkdir(exist_ok=True)
    with StateStore(state / DEFAULT_FILE_NAME) as store:
        if age is not None:
            store.beat_master("kraken", at=time.time() - age)


def test_master_offline_from_the_running_bots_heartbeat(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    _stale_store(desk, 900.0)
    result = desk.run(verify_kraken, "--json", "--running")
    assert result.code == 1
    alice = result.account("kraken:alice")
    assert alice["state"] == "MASTER_OFFLINE"
    assert "its master's last heartbeat was" in alice["reason"]
    assert "over MASTER_OFFLINE_SECONDS=600" in alice["reason"]
    assert alice["fix"].startswith("check kraken:master in `python bot.py status`")
    (deadlock,) = [f for f in result.data["findings"] if f["kind"] == "deadlock"]
    assert deadlock["accounts"] == ["kraken:alice"]


def test_fresh_heartbeat_is_following(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    _stale_store(desk, 30.0)
    result = desk.run(verify_kraken, "--json", "--running")
    assert result.code == 0, result.out
    assert result.account("kraken:alice")["state"] == "FOLLOWING"


def test_running_without_a_store_is_bad_usage(desk: Desk) -> None:
    desk.master(10_000)
    result = desk.run(verify_kraken, "--running")
    assert result.code == 2
    assert "--running: no state store at" in result.err


def test_bad_setting_is_one_line(desk: Desk) -> None:
    desk.master(10_000)
    desk.set(MAX_USER_RISK="-1")
    result = desk.run(verify_kraken)
    assert result.code == 1
    assert result.err.strip().count("\n") == 0 and "MAX_USER_RISK" in result.err


def test_bad_argument_exits_2(desk: Desk) -> None:
    try:
        desk.run(verify_kraken, "--no-such-flag")
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("argparse should refuse an unknown flag")
