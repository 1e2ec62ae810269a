"""NIJA_CRASH_AT: a test names a point (and purpose, and which pass); the process dies there as with kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.execution.crashpoints import CRASH_POINTS, crash_point

_SCRIPT = """
from bot.execution.crashpoints import crash_point
crash_point('fill_booked', 'entry')
print('entry passed', flush=True)
crash_point('fill_booked', 'exit')
print('first exit passed', flush=True)
crash_point('fill_booked', 'exit')
print('second exit passed', flush=True)
"""


def _run(spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if spec is not None:
        env["NIJA_CRASH_AT"] = spec
    return subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parents[2]))


def test_without_the_variable_nothing_happens() -> None:
    done = _run(None)
    assert done.returncode == 0 and done.stdout.count("passed") == 3


@pytest.mark.parametrize(("spec", "lines"), [
    ("fill_booked", 0), ("fill_booked@exit", 1), ("fill_booked@exit:2", 2), ("fill_booked@entry:1", 0),
])
def test_the_process_is_killed_at_the_named_pass(spec: str, lines: int) -> None:
    done = _run(spec)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.count("passed") == lines


def test_a_point_for_another_purpose_never_fires() -> None:
    done = _run("fill_booked@copy_exit")
    assert done.returncode == 0


def test_a_misspelt_point_is_one_clear_error() -> None:
    done = _run("fill_boked")
    assert done.returncode == 1
    assert "NIJA_CRASH_AT='fill_boked': unknown point" in done.stderr


def test_code_cannot_name_a_point_that_is_not_declared() -> None:
    with pytest.raises(ValueError):
        crash_point("nowhere")
    assert len(set(CRASH_POINTS)) == len(CRASH_POINTS)


def test_every_named_point_is_placed_in_the_code_and_every_placed_point_is_named() -> None:
    """The crash harness kills the bot at each name in CRASH_POINTS: a name never passed would hang its test, and a
    call with a name not listed would raise (so it could never be targeted)."""
    import re
    from pathlib import Path

    from bot.execution.crashpoints import CRASH_POINTS

    root = Path(__file__).resolve().parents[2] / "bot"
    placed = {m for path in root.rglob("*.py") if path.name != "crashpoints.py"
              for m in re.findall(r'crash_point\(\s*"(\w+)"', path.read_text())}
    assert placed == set(CRASH_POINTS)
