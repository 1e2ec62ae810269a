"""`python bot.py` as a user types it: the command list, and one clear line for a bad setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
    base["NIJA_HOME"] = str(cwd)  # the test's folder stands in for the project folder (.env, state, users)
    return subprocess.run(
        [sys.executable, str(REPO / "bot.py"), *args], capture_output=True, text=True, timeout=120,
        env={**base, **(env or {})}, cwd=cwd, check=False,
    )


def test_help_lists_the_three_commands(tmp_path: Path) -> None:
    result = run_bot("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("run", "status", "backtest"):
        assert command in result.stdout
    assert "paper mode" in result.stdout and "LIVE_TRADING=true" in result.stdout


def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_code_2(tmp_path: Path) -> None:
    result = run_bot("status", env={"MAX_USER_RISK": "2.5"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "MAX_USER_RISK" in lines[0] and "2.5" in lines[0] and "between 0" in lines[0]
    assert result.stdout == ""


def test_a_bad_setting_in_the_env_file_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ENTRY_BLOCKING=perhaps\n")
    result = run_bot("status", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ENTRY_BLOCKING" in lines[0] and ".env" in lines[0] and "true or false" in lines[0]


def test_a_secret_given_as_a_bad_value_is_never_echoed(tmp_path: Path) -> None:
    secret = "c2VjcmV0LXZhbHVlLW5vdC1iYXNlNjQ_!!"
    result = run_bot("status", env={"KRAKEN_MASTER_API_KEY": "KEY123", "KRAKEN_MASTER_API_SECRET": secret,
                                    "LIVE_TRADING": "true"}, cwd=tmp_path)
    assert secret not in result.stdout + result.stderr


def test_an_unknown_brokerage_is_refused_with_the_choices(tmp_path: Path) -> None:
    result = run_bot("--brokers", "kraken,binance", "--duration", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "binance" in result.stderr and "kraken" in result.stderr and "coinbase" in result.stderr


def test_the_benchmark_script_runs_from_any_directory_and_prints_its_figures(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "strategy", "--json"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["markets"] == 730 and figures["seconds"] > 0
    assert figures["signal_markets_planted"] > 0 and figures["signals"] >= figures["signal_markets_planted"]
    too_slow = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "strategy", "--json",
                               "--max-seconds", "0.000001"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              check=False)
    assert too_slow.returncode == 1 and "over 1e-06 s" in too_slow.stderr
    sim = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "sim", "--json", "--seconds", "0.5",
                          "--min-rate", "1e9"], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert sim.returncode == 1 and json.loads(sim.stdout)["errors"] == 0 and "under 1e+09" in sim.stderr
    usage = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "nope"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert usage.returncode == 2 and "fanout" in usage.stderr


def test_a_store_that_is_not_a_nija_store_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    paper = tmp_path / "state" / "paper"
    paper.mkdir(parents=True)
    (paper / "nija.sqlite3").write_bytes(b"this is not sqlite at all" * 100)
    result = run_bot("status", env={"NIJA_STATE_DIR": str(tmp_path / "state")}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nija.sqlite3" in lines[0] and "state store" in lines[0], result.stderr
