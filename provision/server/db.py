"""The server's SQLite file (DATA_DIR/provision.sqlite), shared by the table classes.

Each class (hosts, orders, merge reports, sessions, login throttle, audit log) opens its own
connection with its own schema; all use WAL, a lock per connection and foreign keys.  Construct
explicitly, close when done.  The file holds secrets (host tokens, download tokens, sessions):
it is created 0600 whatever the umask, and SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

DB_NAME = "provision.sqlite"
PRIVATE = 0o600


def private_file(path: Path) -> None:
    """Create `path` 0600 if it is missing; take group/other access away if it has any.

    Never opens an existing file: closing a descriptor of an SQLite file would drop every
    POSIX lock this process's connections hold on it (the classic way to corrupt SQLite).
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE))
        return
    except FileExistsError:
        pass
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        pass  # a -wal or -shm file removed by the last connection that closed


class Database:
    SCHEMA = ""  # CREATE TABLE IF NOT EXISTS ... of the subclass

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        private_file(path)
        for suffix in ("-wal", "-shm"):  # SQLite makes them with the database file's mode
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                private_file(extra)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(self.SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        return cls(data_dir / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
