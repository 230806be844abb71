"""The data dir holds secrets (host and download tokens and sessions in the SQLite file, the
signing key, the admin password hash, TSIG keys, images stamped with host tokens): nobody but
the server's user may read it.

`provision serve` sets the umask to UMASK before it creates anything, and `secure_data_dir`
takes group/other access away from the data dir and from the secret files and directories a
data dir made by an older version (or by hand) may have left open.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("provision.serve")

UMASK = 0o077  # files 0600, directories 0700
SECRET_FILES = (
    "provision.sqlite",
    "provision.sqlite-wal",
    "provision.sqlite-shm",
    "server.toml",
    "orders.toml",
    "dns.toml",
    "dns-queue.json",
)
SECRET_DIRS = ("keys/sign", "images")  # the directory and every file in it


def _tighten(path: Path, changed: list[Path]) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        return  # never follow a link out of the data dir
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
        changed.append(path)


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Create the data dir 0700 or take group/other access away from it and from the secret
    files in it; returns the paths that were changed (each is logged)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed: list[Path] = []
    _tighten(data_dir, changed)
    for name in SECRET_FILES:
        _tighten(data_dir / name, changed)
    for name in SECRET_DIRS:
        directory = data_dir / name
        _tighten(directory, changed)
        if directory.is_dir() and not directory.is_symlink():
            for item in directory.iterdir():
                _tighten(item, changed)
    for path in changed:
        log.warning("%s was readable by others: group/other access removed", path)
    return changed
