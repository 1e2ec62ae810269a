"""Regression: a `state/` rule in .gitignore silently ignored the bot/state package, so it was never
committed and a fresh clone could not import the bot. No source file may match an ignore rule."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("bot", "tests", "scripts")


def _git() -> str:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the repository's .git directory")
    return git


def _ignored(paths: list[str], *config: str) -> list[str]:
    """The paths git would ignore. --no-index checks tracked files too: committing them once must not hide
    a rule that would drop them from the next `git add`."""
    command = [_git(), "-C", str(ROOT), *config, "check-ignore", "--no-index", "--stdin"]
    done = subprocess.run(command, input="\n".join(paths) + "\n", capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode in (0, 1), done.stderr  # 0: some ignored, 1: none, anything else: git failed
    return done.stdout.split()


def _sources() -> list[str]:
    files = [path for directory in SOURCE_DIRS for path in (ROOT / directory).rglob("*.py")]
    files += ROOT.glob("*.py")  # bot.py, the entry point
    return sorted(str(path.relative_to(ROOT)) for path in files if "__pycache__" not in path.parts)


def test_no_source_file_is_ignored() -> None:
    sources = _sources()
    assert "bot/state/store.py" in sources and "tests/state/test_gitignore.py" in sources
    assert _ignored(sources) == []


def test_the_check_would_have_caught_the_old_rule(tmp_path: Path) -> None:
    """The same check with the old rule added reports the package: the test above can fail."""
    old_rule = tmp_path / "old-gitignore"
    old_rule.write_text("state/\n")
    ignored = _ignored(_sources(), "-c", f"core.excludesFile={old_rule}")
    assert "bot/state/store.py" in ignored and "tests/state/conftest.py" in ignored
