"""Where the live store lives: DATABASE_URL when it names a SQLite file, else NIJA_STATE_DIR (relative paths are
taken from the project folder, or NIJA_HOME, never from the current directory)."""

from __future__ import annotations

from pathlib import Path

from bot.config.errors import ConfigError
from bot.config.paths import under_home
from bot.config.settings import Settings
from bot.state.store import DEFAULT_FILE_NAME

SQLITE_PREFIX = "sqlite:///"


def store_path(settings: Settings) -> Path:
    url = settings.general.database_url
    if not url:
        return Path(settings.general.state_dir) / DEFAULT_FILE_NAME
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        scheme = url.split(":", 1)[0] if ":" in url else "(no scheme)"
        raise ConfigError(
            f"DATABASE_URL: scheme {scheme!r} is not supported; expected sqlite:///PATH "
            f"(or leave it unset for NIJA_STATE_DIR/{DEFAULT_FILE_NAME})"
        )
    return under_home(Path(url[len(SQLITE_PREFIX):]))  # a relative file is in the project folder (or NIJA_HOME)
