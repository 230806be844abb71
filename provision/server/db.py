"""The server's SQLite file (DATA_DIR/provision.sqlite), shared by the table classes.

Each class (hosts, orders, merge reports) opens its own connection with its own schema; all
use WAL, a lock per connection and foreign keys.  Construct explicitly, close when done.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

DB_NAME = "provision.sqlite"


class Database:
    SCHEMA = ""  # CREATE TABLE IF NOT EXISTS ... of the subclass

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
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
