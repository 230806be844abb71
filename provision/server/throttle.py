"""Login throttling: exponential back-off per client address and per account, in SQLite.

After `free` failed logins under one key, each further failure blocks that key for
`base * 2**(failures - free)` seconds, at most `cap`; while a key is blocked every login
attempt under it is refused (429 with Retry-After) without the password being looked at.  A
success clears the keys; a key with no failure for `forget_after` seconds starts over.

Why our own and not flask-limiter: the state must survive a restart and be shared by all of
the HTTP threads (flask-limiter keeps it in memory unless given redis or memcached, a service
this server does not otherwise need), and the policy is a back-off that grows with each
failure rather than a fixed "N per minute" window.  It is a table and one pure function.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from provision.server.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last REAL NOT NULL,
    blocked_until REAL NOT NULL
);
"""
BASE_DELAY = 1.0  # seconds after the first failure past the free ones
FORGET_AFTER = 3600.0  # a key quiet this long starts over


@dataclass(frozen=True)
class Rule:
    """One throttled key (e.g. "address:192.0.2.7", "account:admin") and its back-off cap."""

    key: str
    cap: float


def backoff(failures: int, free: int, cap: float, base: float = BASE_DELAY) -> float:
    """Pure: seconds a key is blocked after its `failures`-th failure."""
    if failures < free:
        return 0.0
    return float(min(cap, base * 2.0 ** min(failures - free, 62)))


class LoginThrottle(Database):
    SCHEMA = SCHEMA

    def wait(self, rules: Sequence[Rule], now: float | None = None) -> float:
        """Seconds until a login may be tried under all these keys (0: now)."""
        now = time.time() if now is None else now
        rows = self._db.execute(
            f"SELECT blocked_until FROM login_failures WHERE key IN ({_marks(rules)})",
            [r.key for r in rules],
        ).fetchall()
        return max([0.0, *(float(r["blocked_until"]) - now for r in rows)])

    def failure(self, rules: Sequence[Rule], free: int, now: float | None = None) -> float:
        """Count a failed login under each key; returns how long the attempt blocks (max)."""
        now = time.time() if now is None else now
        blocked = 0.0
        with self._tx() as db:
            for rule in rules:
                row = db.execute(
                    "SELECT failures, last FROM login_failures WHERE key = ?", (rule.key,)
                ).fetchone()
                failures = 1
                if row is not None and now - row["last"] < FORGET_AFTER:
                    failures = row["failures"] + 1
                delay = backoff(failures, free, rule.cap)
                db.execute(
                    "INSERT OR REPLACE INTO login_failures (key, failures, last, blocked_until)"
                    " VALUES (?, ?, ?, ?)",
                    (rule.key, failures, now, now + delay),
                )
                blocked = max(blocked, delay)
            db.execute("DELETE FROM login_failures WHERE last < ?", (now - FORGET_AFTER,))
        return blocked

    def success(self, rules: Sequence[Rule]) -> None:
        with self._tx() as db:
            db.execute(
                f"DELETE FROM login_failures WHERE key IN ({_marks(rules)})",
                [r.key for r in rules],
            )


def _marks(rules: Sequence[Rule]) -> str:
    return ", ".join("?" for _ in rules) or "NULL"
