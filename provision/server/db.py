"""The server's SQLite file (DATA_DIR/provision.sqlite), shared by the table classes.

Each class (hosts, orders, merge reports, sessions, login throttle, audit log) has its own
schema.  Built for many HTTP threads at once: every thread gets its own connection (made on
first use, closed with the object), the file is in WAL mode (readers never wait for a writer,
a writer never waits for readers), writes are short `BEGIN IMMEDIATE` transactions, and a
writer that finds another one busy waits up to `BUSY_TIMEOUT_MS` inside SQLite instead of
failing.  No lock of ours is held around a query.  Construct explicitly, close when done.

The file holds secrets (host tokens, download tokens, sessions): it is created 0600 whatever
the umask, and SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Self

DB_NAME = "provision.sqlite"
BUSY_TIMEOUT_MS = 30_000
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
    SCHEMA = ""  # CREATE TABLE / INDEX IF NOT EXISTS ... of the subclass

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        private_file(path)
        for suffix in ("-wal", "-shm"):  # SQLite makes them with the database file's mode
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                private_file(extra)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()  # guards the list of connections, never a query
        self._closed = False
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(self.SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        return cls(data_dir / DB_NAME)

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so that close() may close every thread's connection;
        # each connection is used by the thread that made it.
        db = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            db = self._connect()
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    @property
    def _lock(self) -> AbstractContextManager[None]:
        """Kept for table classes written when one connection was shared: no lock any more."""
        return nullcontext()

    def close(self) -> None:
        with self._all_lock:
            self._closed = True
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
