"""The command line's own behaviour: argparse's messages, --version, the default command, light imports, and
no traceback on a closed pipe or a Ctrl-C (issue 13, "the command line")."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import __version__
from bot.cli import COMMANDS, with_default_command

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pydantic", "cryptography", "krakenex", "coinbase", "alpaca", "requests", "matplotlib")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
    env.update({"NIJA_HOME": str(tmp_path), "NIJA_STATE_DIR": str(tmp_path / "state"), "LIVE_TRADING": "false",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def bot(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "bot.py"), *args], capture_output=True, text=True,
                          timeout=120, env=clean_env(tmp_path, **env), cwd=tmp_path, check=False)


def test_a_mistyped_command_gets_argparses_invalid_choice(tmp_path: Path) -> None:
    result = bot("stauts", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'stauts'" in result.stderr and "'status'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_version_prints_the_projects_version(tmp_path: Path) -> None:
    result = bot("--version", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nija {__version__}"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == __version__  # type: ignore[union-attr]


def test_run_is_inserted_only_when_the_first_argument_is_an_option_or_absent() -> None:
    assert with_default_command([]) == ["run"]
    assert with_default_command(["--duration", "5"]) == ["run", "--duration", "5"]
    assert with_default_command(["status", "--json"]) == ["status", "--json"]
    assert with_default_command(["stauts"]) == ["stauts"]
    assert with_default_command(["--help"]) == ["--help"] and with_default_command(["--version"]) == ["--version"]


def test_an_unknown_option_is_refused_with_argparses_message(tmp_path: Path) -> None:
    result = bot("--bogus", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_registered_command_without_importing_anything_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from bot.console.exits import run_main\n"
        "try:\n"
        "    run_main('bot.cli:main', sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, timeout=60,
                            env=clean_env(tmp_path), cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command.name in result.stdout
    assert "HEAVY []" in result.stdout


def test_status_loads_the_settings_but_no_exchange_sdk_or_data_library(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from bot.console.exits import run_main\n"
        "code = run_main('bot.cli:main', ['status'])\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            env=clean_env(tmp_path), cwd=tmp_path, check=False)
    assert "no state store" in result.stderr
    assert "HEAVY ['pydantic']" in result.stdout


def _closed_pipe_run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader is already gone: every write fails as under `| head`."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                              env=clean_env(tmp_path), cwd=tmp_path, check=False)
    finally:
        os.close(write_end)


def test_status_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    from scripts.benchmarks.cli import make_status_store

    make_status_store(tmp_path / "state")
    result = _closed_pipe_run([sys.executable, str(REPO / "bot.py"), "status"], tmp_path)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 1


def test_help_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    result = _closed_pipe_run([sys.executable, str(REPO / "bot.py"), "--help"], tmp_path)
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "scripts").glob("verify_*.py")))
def test_verify_scripts_into_a_closed_pipe_end_without_a_traceback(tmp_path: Path, script: str) -> None:
    result = _closed_pipe_run([sys.executable, str(REPO / "scripts" / script)], tmp_path)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def _read_until(process: subprocess.Popen[bytes], marker: str, deadline: float) -> str:
    """Read the child's stdout until `marker` appears (polling the pipe with a deadline, no sleeps)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    while marker.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{marker!r} never appeared; got {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"the process ended before {marker!r}; got {seen[-2000:]!r}"
            seen += chunk
    return seen.decode(errors="replace")


@pytest.mark.parametrize("marker", ["PAPER MODE", "accounts at start-up"])
def test_ctrl_c_during_start_up_ends_cleanly_without_a_traceback(tmp_path: Path, marker: str) -> None:
    process = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "--duration", "60"], cwd=tmp_path,
                               env=clean_env(tmp_path, SIM_MARKETS="4"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        _read_until(process, marker, time.monotonic() + 60)
        process.send_signal(signal.SIGINT)
        _, raw_err = process.communicate(timeout=30)
        err = raw_err.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert process.returncode in (0, 130), (process.returncode, err)


def test_ctrl_c_at_once_ends_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "status"], cwd=tmp_path,
                               env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.send_signal(signal.SIGINT)  # anywhere from interpreter start-up to the imports
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
