"""Where NIJA's own files are: the project folder, or NIJA_HOME when it is set; never the current directory.

`.env` is read from there, and relative paths in settings (NIJA_STATE_DIR, NIJA_USERS_DIR, LOG_FILE ...)
are taken relative to it, so `python /path/to/bot.py` from any directory reads the same files and
writes to the same state. NIJA_HOME comes from the real environment only (it says where .env is).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOME_VARIABLE = "NIJA_HOME"
ENV_FILE_NAME = ".env"


def home(environ: Mapping[str, str] | None = None) -> Path:
    """NIJA_HOME (made absolute) when set, else the project folder this code was loaded from."""
    value = (os.environ if environ is None else environ).get(HOME_VARIABLE, "").strip()
    return Path(value).expanduser().resolve() if value else PROJECT_DIR


def env_file(environ: Mapping[str, str] | None = None) -> Path:
    return home(environ) / ENV_FILE_NAME


def under_home(path: Path, environ: Mapping[str, str] | None = None) -> Path:
    """An absolute path as is; a relative one (or ~) taken from home()."""
    path = path.expanduser()
    return path if path.is_absolute() else home(environ) / path
