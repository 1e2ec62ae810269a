"""What `python bot.py` does before it trades (issue 13): live means live, paths from the project folder (or
NIJA_HOME) whatever the current directory, the files it read, user-file problems reported in paper mode as in
live mode, command-line values checked like settings, dated logs, an optional log file, simulated seconds said
as such, and a fix text that reads."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.accounts.states import AccountState, ProbeResult, classify_account
from bot.brokers.base import BalanceSnapshot
from bot.clock import ManualClock, describe_seconds
from bot.config.account_loader import load_accounts
from bot.config.accounts import AccountConfig, AccountRegistry, Credentials, Role
from bot.config.paths import PROJECT_DIR, home
from bot.config.settings import load_settings
from bot.logsetup import DATE_FORMAT, add_log_file, register_secrets, setup_logging
from bot.sim.clock import SimClock
from bot.trading import commands, stop_signals
from bot.trading.modes import choose_mode

REPO = Path(__file__).resolve().parents[2]
GOOD_SECRET = base64.b64encode(b"k" * 64).decode()


def bot(*args: str, home_dir: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.endswith(("_API_KEY", "_API_SECRET")) and not k.startswith(("NIJA_", "LIVE_TRADING"))}
    base.update({"NIJA_HOME": str(home_dir), "SIM_MARKETS": "4", **env})
    return subprocess.run([sys.executable, str(REPO / "bot.py"), *args], capture_output=True, text=True,
                          timeout=120, env=base, cwd=cwd, check=False)


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "config" / "users").mkdir(parents=True)
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


# ---- live means live ---------------------------------------------------------------------------------------
def test_live_with_a_malformed_secret_stops_with_one_line_per_variable_and_exit_2(
    home_dir: Path, elsewhere: Path
) -> None:
    result = bot(home_dir=home_dir, cwd=elsewhere, LIVE_TRADING="true", KRAKEN_MASTER_API_KEY="masterkey0001",
                 KRAKEN_MASTER_API_SECRET="not base64!!", COINBASE_MASTER_API_KEY="organizations/x/apiKeys/y")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert "KRAKEN_MASTER_API_SECRET is not valid base64" in lines[0] and "LIVE_TRADING=true" in lines[0]
    assert "COINBASE_MASTER_API_KEY is set but COINBASE_MASTER_API_SECRET is missing" in lines[1]
    assert "PAPER MODE" not in result.stdout and "not base64!!" not in result.stdout + result.stderr


def test_live_with_only_credentials_no_user_file_reads_stops_with_exit_2(home_dir: Path, elsewhere: Path) -> None:
    result = bot(home_dir=home_dir, cwd=elsewhere, LIVE_TRADING="true", KRAKEN_USER_BOB_API_KEY="bobkey00001",
                 KRAKEN_USER_BOB_API_SECRET=GOOD_SECRET)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"nija: LIVE_TRADING=true, but KRAKEN_USER_BOB_API_KEY/_API_SECRET belong to no user file in "
        f"{home_dir / 'config' / 'users'}; add the file or unset them (no paper mode in place of live)"
    ]


def _registry(*accounts: AccountConfig, stray: tuple[str, ...] = ()) -> AccountRegistry:
    return AccountRegistry(accounts=list(accounts), stray_credentials=list(stray))


MASTER_OK = AccountConfig("kraken", "master", Role.MASTER, "m", credentials=Credentials("key000001", GOOD_SECRET,
                          "KRAKEN_MASTER"), credential_state="ok")
MASTER_BAD = AccountConfig("kraken", "master", Role.MASTER, "m", credential_state="malformed",
                           credential_problem="KRAKEN_MASTER_API_SECRET is not valid base64")


@pytest.mark.parametrize(("live", "accounts", "stray", "expected"), [
    ("true", (MASTER_OK,), (), "live"),
    ("true", (MASTER_BAD,), (), "refused"),
    ("true", (MASTER_OK, MASTER_BAD), (), "refused"),  # one bad variable is enough: fix it or unset it
    ("true", (), ("KRAKEN_USER_BOB",), "refused"),
    ("true", (), (), "paper, loudly"),
    ("false", (MASTER_OK,), (), "paper, loudly"),
    ("false", (MASTER_BAD,), (), "paper, loudly"),
    ("false", (), (), "paper"),
])
def test_the_mode_a_start_means(live: str, accounts: tuple[AccountConfig, ...], stray: tuple[str, ...],
                                expected: str) -> None:
    decision = choose_mode(load_settings({"LIVE_TRADING": live}, env_file=None), _registry(*accounts, stray=stray))
    got = ("live" if decision.live else "refused" if decision.refusals
           else "paper, loudly" if decision.banner else "paper")
    assert got == expected
    assert all("\n" not in line for line in decision.refusals)


def test_live_without_any_credential_runs_paper_mode_and_says_so_loudly(home_dir: Path, elsewhere: Path) -> None:
    result = bot("--duration", "0", home_dir=home_dir, cwd=elsewhere, LIVE_TRADING="true")
    assert result.returncode == 0, result.stderr
    assert "LIVE_TRADING=true but NO credentials are set at all: running PAPER MODE" in result.stdout
    assert "!" * 100 in result.stdout and "PAPER MODE: simulator on 127.0.0.1" in result.stdout


# ---- paths and the files read ----------------------------------------------------------------------------
def test_the_env_file_and_state_come_from_the_project_folder_not_the_current_directory(
    home_dir: Path, elsewhere: Path
) -> None:
    (home_dir / ".env").write_text("ENTRY_BLOCKING=perhaps\n")
    (elsewhere / ".env").write_text("ENTRY_BLOCKING=true\n")  # a stray .env where the user stands is not read
    result = bot("status", home_dir=home_dir, cwd=elsewhere)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"nija: configuration error: ENTRY_BLOCKING='perhaps': expected true or false "
                                      f"(set in {home_dir / '.env'})")


def test_a_run_from_elsewhere_writes_under_home_and_prints_what_it_read(home_dir: Path, elsewhere: Path) -> None:
    (home_dir / ".env").write_text("MAX_USER_RISK=0.05\n")
    (home_dir / "config" / "users" / "ann.json").write_text(json.dumps({"name": "Ann", "broker": "kraken"}))
    result = bot("--duration", "0", home_dir=home_dir, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"settings: {home_dir / '.env'}\n" in result.stdout
    assert f"user accounts: {home_dir / 'config' / 'users'} (1 file: ann.json)" in result.stdout
    assert f"state: {home_dir / 'state' / 'paper'}" in result.stdout
    assert (home_dir / "state" / "paper").is_dir()
    assert not (elsewhere / "state").exists()


def test_a_missing_users_folder_is_said(home_dir: Path, elsewhere: Path) -> None:
    registry = load_accounts(load_settings({"NIJA_HOME": str(elsewhere)}, env_file=None), {})
    assert registry.problems == [
        f"{elsewhere / 'config' / 'users'}: no such folder, so no user accounts are loaded: create it (see "
        "config/users/README.md in the project) or set NIJA_USERS_DIR"
    ]


def test_relative_paths_in_settings_are_taken_from_home(tmp_path: Path) -> None:
    settings = load_settings({"NIJA_HOME": str(tmp_path), "NIJA_STATE_DIR": "mystate", "LOG_FILE": "logs/n.log"},
                             env_file=None)
    assert settings.general.state_dir == tmp_path / "mystate"
    assert settings.general.users_dir == tmp_path / "config" / "users"
    assert settings.general.log_file == tmp_path / "logs" / "n.log"
    assert home({}) == PROJECT_DIR and (PROJECT_DIR / "bot.py").is_file()


def test_paper_mode_reports_malformed_user_files_exactly_as_live_mode(home_dir: Path, elsewhere: Path) -> None:
    bad = home_dir / "config" / "users" / "daivon_frazier.json"
    bad.write_text(json.dumps({"name": "Daivon", "broker": "kraken", "enabeld": False}))
    problems = load_accounts(load_settings({"NIJA_HOME": str(home_dir)}, env_file=None), {}).problems
    assert len(problems) == 1
    result = bot("--duration", "0", home_dir=home_dir, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"ERROR   [nija] account configuration: {problems[0]}" in result.stderr  # the line live mode logs


# ---- command-line values are settings too ------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "words"), [
    (["--speed", "inf"], "--speed inf: Input should be a finite number"),
    (["--speed", "0"], "--speed 0.0: Input should be greater than 0"),
    (["--seed", "-1"], "--seed -1: Input should be greater than or equal to 0"),
])
def test_speed_and_seed_are_checked_like_their_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    settings = load_settings({"NIJA_HOME": str(tmp_path)}, env_file=None)
    assert commands.run(parser.parse_args(argv), settings, out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_the_stop_signals_are_released_by_whoever_installed_them(tmp_path: Path) -> None:
    """bot/cli.py installs them before the heavy imports and releases them when the command is over: `run`
    leaves them to it (a Ctrl-C after `run` returned is still a quiet stop); called alone, `run` owns them."""
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    settings = load_settings({"NIJA_HOME": str(tmp_path)}, env_file=None)
    args = parser.parse_args(["--seed", "-1"])  # refused at once: the run returns 2 before it trades
    installed = stop_signals.install_stop_signals()  # as bot/cli.py does for `run`
    try:
        assert commands.run(args, settings, out=io.StringIO()) == 2
        assert stop_signals.installed_stop_signals() is installed
    finally:
        stop_signals.release_stop_signals()
    assert commands.run(args, settings, out=io.StringIO()) == 2
    assert stop_signals.installed_stop_signals() is None


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e12", "soon"])
def test_duration_refuses_what_a_timer_cannot_wait(tmp_path: Path, value: str) -> None:
    result = bot("--duration", value, home_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and "argument --duration" in result.stderr and "Traceback" not in result.stderr


# ---- logs -------------------------------------------------------------------------------------------------
def test_log_lines_carry_the_date_and_a_log_file_gets_the_same_redacted_lines(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = setup_logging("INFO", stream=stream)
    register_secrets(["s3cr3t-value-xyz"])
    path = tmp_path / "logs" / "nija.log"
    handler = add_log_file(path, max_bytes=10_000, backups=2)
    try:
        logging.getLogger("nija.test").info("hello with s3cr3t-value-xyz")
    finally:
        for h in (console, handler):
            logging.getLogger().removeHandler(h)
        handler.close()
    line = stream.getvalue().strip()
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} INFO ", line), line
    assert DATE_FORMAT == "%Y-%m-%d %H:%M:%S"
    assert path.read_text().strip() == line and "s3cr3t" not in line
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_log_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "nija.log"
    handler = add_log_file(path, max_bytes=10_000, backups=2)
    try:
        for i in range(400):
            logging.getLogger("nija.test").warning("line %d %s", i, "x" * 60)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert (tmp_path / "nija.log.1").is_file() and (tmp_path / "nija.log.2").is_file()
    assert not (tmp_path / "nija.log.3").exists() and path.stat().st_size <= 10_000


def test_a_log_file_that_cannot_be_written_is_one_line(home_dir: Path, elsewhere: Path) -> None:
    (home_dir / "blocked").write_text("a file, not a folder")
    result = bot("--duration", "0", home_dir=home_dir, cwd=elsewhere, LOG_FILE="blocked/nija.log")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nija: LOG_FILE={home_dir / 'blocked' / 'nija.log'}: cannot be "
                                                   "written (")


def test_simulated_seconds_are_said_as_such() -> None:
    assert describe_seconds(150, SimClock(0.0, 600.0)) == "150 simulated s (0.25 s real)"
    assert describe_seconds(150, ManualClock()) == "150 s"
    assert describe_seconds(0, SimClock(0.0, 600.0)) == "0 s"


def test_the_paper_pace_line_says_both_times(home_dir: Path, elsewhere: Path) -> None:
    result = bot("--duration", "0", home_dir=home_dir, cwd=elsewhere)
    assert "exits checked every 150 simulated s (0.25 s real)" in result.stderr


def test_a_demo_followers_fix_text_reads(tmp_path: Path) -> None:
    settings = load_settings({"COPY_OBSERVE_ONLY": "true"}, env_file=None)
    demo = AccountConfig("kraken", "demo_user_1", Role.USER, "Demo", credentials=MASTER_OK.credentials,
                         credential_state="ok", source="paper mode (demo account on the simulator)", demo=True)
    registry = _registry(MASTER_OK, demo)
    probe = ProbeResult.from_snapshot(BalanceSnapshot(500.0, 500.0, equity=500.0), 1.0, "BTC-USD")
    status = classify_account(demo, probe, registry, settings,
                              classify_account(MASTER_OK, probe, registry, settings))
    assert status.state is AccountState.STANDING_DOWN
    assert "COPY_TRADING_MODE=INDEPENDENT so the demo followers run the strategy themselves" in status.fix
    assert "in paper mode (demo account" not in status.fix


def test_the_verify_scripts_read_the_project_folders_env_too(home_dir: Path, elsewhere: Path) -> None:
    (home_dir / ".env").write_text("ENTRY_BLOCKING=perhaps\n")
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "verify_kraken_trading_enabled.py")],
                            capture_output=True, text=True, timeout=120, cwd=elsewhere, check=False,
                            env={**base, "NIJA_HOME": str(home_dir)})
    assert result.returncode == 1
    assert "ENTRY_BLOCKING='perhaps'" in result.stdout + result.stderr and "Traceback" not in result.stderr
