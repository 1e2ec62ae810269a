"""Files only their owner may read: the state directory 0700, the store, nonce and lock files 0600, whatever the umask.

The store holds every account's balances, orders and positions; nonce and lock files say which keys
are in use and by whom. A umask of 022 (the usual default) would leave them readable by every local
user, so each is created with its mode and, when it already exists and belongs to us, tightened.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & ~mode and info.st_uid == os.geteuid():
        os.chmod(path, mode)
        log.info("%s was readable by other users; now mode %o", path, mode)


def private_dir(path: Path) -> Path:
    """The directory (created with its parents when missing), mode 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """The file (created empty when missing, its directory private too), mode 0600."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path
