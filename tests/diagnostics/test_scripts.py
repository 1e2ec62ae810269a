"""verify_user_trading, verify_copy_trading and verify_master_broker_independence against the simulator,
and every script run as `python scripts/verify_x.py` from the repository root without leaking a secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.brokers.base import Broker
from bot.brokers.factory import make_broker
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings
from bot.diagnostics.commands import verify_copy, verify_independence, verify_kraken, verify_user
from tests.diagnostics.conftest import Desk, assert_no_secret, closed_port, fake_kraken_secret

ROOT = Path(__file__).resolve().parents[2]


def test_verify_user_reports_one_account_end_to_end(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.user("tiny", 2.0)
    result = desk.run(verify_user, "--user", "alice", "--json")
    assert result.code == 0, result.out
    assert [a["label"] for a in result.data["accounts"]] == ["kraken:alice"]
    assert result.account("kraken:alice")["state"] == "FOLLOWING"  # its master was probed to say so
    blocked = desk.run(verify_user, "--user", "tiny")
    assert blocked.code == 1
    assert "=> WILL NOT TRADE (BELOW_MINIMUM)" in blocked.out
    assert blocked.out.strip().splitlines()[-1].startswith("VERDICT: kraken:tiny will NOT trade")


def test_verify_user_for_a_follower_of_an_unfunded_master(desk: Desk) -> None:
    desk.master(0.10)
    desk.user("alice", 2_500)
    result = desk.run(verify_user, "--user", "alice", "--json")
    assert result.code == 1
    alice = result.account("kraken:alice")
    assert alice["state"] == "MASTER_OFFLINE" and "which is UNFUNDED" in alice["reason"]
    assert [f["kind"] for f in result.data["findings"]] == ["deadlock"]


def test_verify_user_unknown_id_is_bad_usage(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    result = desk.run(verify_user, "--user", "nobody")
    assert result.code == 2
    assert "--user nobody: no such account is configured (known: kraken:master, kraken:alice)" in result.err


def test_verify_copy_sizes_a_sample_trade_with_the_copy_engines_rules(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.user("bob", 400, risk_multiplier=0.5)
    desk.user("tiny", 2.0)
    result = desk.run(verify_copy, "--json", "--notional", "2000", "--symbol", "btc-usd")
    (kraken,) = result.data["copy"]
    assert kraken["master"] == "kraken:master" and kraken["master_state"] == "TRADING"
    assert kraken["sample_master_notional"] == 2000.0 and kraken["sample_symbol"] == "BTC-USD"
    followers = {f["label"]: f for f in kraken["followers"]}
    # alice: 2000 x 2500 / 10000 = 500, capped at MAX_USER_RISK 10% of 2500 = 250
    assert followers["kraken:alice"]["outcome"] == "copy"
    assert followers["kraken:alice"]["notional"] == 250.0
    assert "capped at MAX_USER_RISK" in followers["kraken:alice"]["why"]
    # bob: 2000 x 400 / 10000 x 0.5 = 40, under the 10% cap of 40: exactly 40
    assert followers["kraken:bob"]["notional"] == 40.0
    assert followers["kraken:bob"]["exit"] == (
        "a master sale of 50% of its position sells 50% of this follower's own position"
    )
    assert followers["kraken:tiny"]["outcome"] == "skip" and "BELOW_MINIMUM" in followers["kraken:tiny"]["why"]
    assert result.code == 1  # tiny blocks "ready"


def test_verify_copy_default_sample_is_the_masters_largest_entry(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    result = desk.run(verify_copy)
    assert result.code == 0, result.out
    assert "kraken:master (TRADING): sample entry BTC-USD 1,000.00 USD" in result.out  # 10% of 10,000
    assert "kraken:alice (FOLLOWING): copy 250.00 USD" in result.out


def test_verify_copy_in_observe_only_says_nothing_is_placed(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.set(COPY_OBSERVE_ONLY="true")
    result = desk.run(verify_copy, "--json")
    assert result.code == 1
    (kraken,) = result.data["copy"]
    assert kraken["note"] == "COPY_OBSERVE_ONLY=true: these sizes are only logged; nothing is placed"
    assert kraken["followers"][0]["outcome"] == "skip"


def test_verify_copy_bad_notional_exits_2(desk: Desk) -> None:
    with pytest.raises(SystemExit) as exit_:
        desk.run(verify_copy, "--notional", "-5")
    assert exit_.value.code == 2


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_independence_a_broken_brokerage_leaves_the_other_alone(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    pem = _pem()
    desk.set(
        COINBASE_MASTER_API_KEY="organizations/o/apiKeys/coinbase-key-0001",
        COINBASE_MASTER_API_SECRET=pem,
        COINBASE_API_URL=f"127.0.0.1:{closed_port()}",
    )
    result = desk.run(verify_independence, "--json")
    assert result.code == 1
    views = {v["broker"]: v for v in result.data["brokerages"]}
    assert views["kraken"]["ready"] is True
    assert views["kraken"]["master"] == "kraken:master" and views["kraken"]["users"] == ["kraken:alice"]
    assert views["kraken"]["threads"] == ["kraken:master", "kraken:alice"]
    assert views["coinbase"]["ready"] is False and views["coinbase"]["master_state"] == "UNREACHABLE"
    assert result.account("coinbase:master")["key_fingerprint"] == "...0001"
    assert any("Coinbase Advanced is blocked" in line and "does not affect Kraken" in line
               for line in result.data["isolation"])


def test_independence_an_adapter_crash_in_one_brokerage_is_contained(desk: Desk) -> None:
    desk.master(10_000)
    desk.set(COINBASE_MASTER_API_KEY="organizations/o/apiKeys/coinbase-key-0002", COINBASE_MASTER_API_SECRET=_pem())

    def factory(account: AccountConfig, settings: Settings, clock: Clock, state_dir: Path) -> Broker:
        if account.broker == "coinbase":
            raise RuntimeError("adapter bug")  # not a named failure: it must not take Kraken down
        return make_broker(account, settings, clock, state_dir)

    result = desk.run(verify_independence, "--json", factory=factory)
    assert result.code == 1
    assert result.account("kraken:master")["state"] == "TRADING"
    (error,) = [f for f in result.data["findings"] if f["kind"] == "error"]
    assert error["broker"] == "coinbase" and error["accounts"] == ["coinbase:master"]
    assert "RuntimeError: adapter bug" in error["reason"]
    assert "Traceback" in result.err  # the traceback reaches the log
    views = {v["broker"]: v for v in result.data["brokerages"]}
    assert views["kraken"]["ready"] is True and views["coinbase"]["ready"] is False


def test_independence_refuses_one_key_for_two_accounts(desk: Desk) -> None:
    master = desk.master(10_000)
    desk.user("alice", None)
    desk.set(KRAKEN_USER_ALICE_API_KEY=master.api_key, KRAKEN_USER_ALICE_API_SECRET=master.api_secret)
    result = desk.run(verify_independence, "--json")
    assert result.code == 1
    (isolation,) = [f for f in result.data["findings"] if f["kind"] == "isolation"]
    assert isolation["accounts"] == ["kraken:master", "kraken:alice"]
    assert "use the same API key" in isolation["reason"]
    assert isolation["fix"].startswith("create a separate API key")


def test_independence_ready(desk: Desk) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    result = desk.run(verify_independence)
    assert result.code == 0, result.out
    assert "kraken: master kraken:master TRADING; threads kraken:master, kraken:alice; users kraken:alice; ready" \
        in result.out


@pytest.mark.parametrize(
    ("script", "extra"),
    [
        ("verify_kraken_trading_enabled.py", []),
        ("verify_user_trading.py", ["--user", "alice"]),
        ("verify_copy_trading.py", []),
        ("verify_master_broker_independence.py", []),
    ],
)
def test_scripts_run_from_the_repo_root_and_never_print_a_secret(
    desk: Desk, script: str, extra: list[str]
) -> None:
    desk.master(10_000)
    desk.user("alice", 2_500)
    desk.user("bob", None)
    desk.set(KRAKEN_USER_BOB_API_KEY="BOBKEYWITHAWRONGSECRET77", KRAKEN_USER_BOB_API_SECRET=fake_kraken_secret(b"b"))
    desk.user("eve", None)
    desk.set(KRAKEN_USER_EVE_API_KEY="EVEKEYMALFORMEDSECRET555", KRAKEN_USER_EVE_API_SECRET="not base64 %%% secret-eve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_"))}
    env.update(desk.env)
    outputs = []
    for flags in ([], ["--json"], ["--verbose"]):
        done = subprocess.run(
            [sys.executable, f"scripts/{script}", *extra, *flags, "--env-file", str(desk.tmp / "none.env")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        outputs.append(done.stdout + done.stderr)
        expected = 0 if script == "verify_user_trading.py" else 1  # bob and eve block the whole-bot scripts
        assert done.returncode == expected, done.stdout + done.stderr
    text = "\n".join(outputs)
    assert_no_secret(desk.secrets, text)
    if script != "verify_user_trading.py":
        assert "BAD_CREDENTIALS" in text and "AUTH_FAILED" in text and "...ET77" in text


def test_scripts_run_from_another_directory(tmp_path: Path) -> None:
    """scripts/_repo_path.py puts the repository on sys.path wherever the script is started from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_user_trading.py"), "--user", "nobody",
         "--env-file", str(tmp_path / "none.env")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr  # bad usage: it imported bot and parsed the arguments
    assert "--user nobody: no such account is configured" in done.stderr


def test_no_secret_in_report_when_every_account_is_broken_differently(desk: Desk) -> None:
    desk.master(10_000)
    desk.set(KRAKEN_MASTER_API_SECRET=fake_kraken_secret(b"m"))
    desk.user("bob", None)
    desk.set(KRAKEN_USER_BOB_API_SECRET=fake_kraken_secret(b"only-secret"))
    for command in (verify_kraken, verify_copy, verify_independence):
        for flags in ([], ["--json"], ["--verbose"]):
            result = desk.run(command, *flags)  # desk.run asserts no secret in stdout or stderr
            assert result.code == 1
            assert result.out
