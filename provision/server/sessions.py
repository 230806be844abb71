"""Admin sessions kept on the server (table `sessions` in the server's SQLite file), so that
every login can be taken back.

A login (web: the cookie; API: a Bearer token) is a random secret the client holds; the table
keeps only its SHA-256, with its kind, expiry, the address it was opened from and a tag of the
admin password (and secret key) it was opened with.  A session is valid while its row exists,
it has not expired and its tag matches the current password: so logout (one row), "log out
everywhere" (all rows) and a password change (`provision admin-password` deletes all rows; a
password changed any other way no longer matches the tag) revoke cookies and tokens at once.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provision.server.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    password_tag TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);
"""
SECRET_MAX = 128  # longer presented secrets are not looked up
# Sessions.find answers a secret it found less than this many seconds ago from memory: a
# Bearer token is presented with every API call, and each SQLite lookup is two steps that let
# go of the GIL, a hand-off between threads under load (issue 20).  Revocation in this process
# (logout, "log out everywhere") forgets at once; a revocation by another process (the CLI's
# admin-password) holds within this time.
RECENT_SECONDS = 1.0
RECENT_MAX = 1024  # found sessions remembered at most (unknown secrets are never remembered)


class SessionKind(StrEnum):
    WEB = "web"  # the browser's session cookie
    API = "api"  # a Bearer token from POST /api/v1/auth/token


@dataclass(frozen=True)
class Session:
    id: str  # SHA-256 (hex) of the secret
    kind: SessionKind
    created: float
    expires: float
    address: str

    @property
    def short(self) -> str:
        """What the audit log shows: the kind and the first characters of the id."""
        return f"{self.kind}:{self.id[:8]}"


def password_tag(secret_key: str, password_hash: str) -> str:
    """Pure: which password (and secret key) a session belongs to."""
    return hashlib.sha256(f"{secret_key}\0{password_hash}".encode()).hexdigest()[:32]


def session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class Sessions(Database):
    SCHEMA = SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._recent: dict[str, tuple[float, sqlite3.Row]] = {}  # id -> (monotonic, row)
        self._generation = 0  # bumped by every revocation: a lookup begun before one is not kept

    def open(
        self,
        kind: SessionKind,
        *,
        lifetime: float,
        address: str,
        tag: str,
        now: float | None = None,
    ) -> tuple[str, Session]:
        """A new session; returns the secret (give it to the client, never store it)."""
        now = time.time() if now is None else now
        secret = secrets.token_urlsafe(32)
        sid = session_id(secret)
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            db.execute(
                "INSERT INTO sessions (id, kind, created, expires, address, password_tag)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sid, kind.value, now, now + lifetime, address[:64], tag),
            )
        return secret, Session(sid, kind, now, now + lifetime, address[:64])

    def find(
        self, secret: str, *, tag: str, kind: SessionKind | None = None, now: float | None = None
    ) -> Session | None:
        """The valid session a secret opens, or None (unknown, expired, other password)."""
        if not secret or len(secret) > SECRET_MAX:
            return None
        now = time.time() if now is None else now
        sid = session_id(secret)
        row = self._remembered(sid)
        if row is None:
            generation = self._generation
            row = self._db.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone()
            if row is not None and generation == self._generation:
                if len(self._recent) >= RECENT_MAX:
                    self._recent.clear()
                self._recent[sid] = (time.monotonic(), row)
        if row is None or row["expires"] < now or row["password_tag"] != tag:
            return None
        found = _session(row)
        return found if kind is None or found.kind is kind else None

    def _remembered(self, sid: str) -> sqlite3.Row | None:
        found = self._recent.get(sid)
        if found is None or time.monotonic() - found[0] >= RECENT_SECONDS:
            return None
        return found[1]

    def _forget(self) -> None:
        """After a revocation committed: what was remembered goes, and a lookup that read the
        row before the commit does not keep it (its generation is old)."""
        self._generation += 1
        self._recent.clear()

    def revoke(self, secret: str) -> bool:
        """Revoke one session (logout); True if it existed."""
        if not secret or len(secret) > SECRET_MAX:
            return False
        with self._tx() as db:
            cur = db.execute("DELETE FROM sessions WHERE id = ?", (session_id(secret),))
        self._forget()
        return cur.rowcount > 0

    def revoke_all(self) -> int:
        """Revoke every session and token ("log out everywhere", password change)."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM sessions").rowcount
        self._forget()
        return gone

    def count(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM sessions WHERE expires >= ?", (now,)
        ).fetchone()
        return int(row["n"])


def _session(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        kind=SessionKind(row["kind"]),
        created=row["created"],
        expires=row["expires"],
        address=row["address"],
    )
