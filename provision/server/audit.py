"""The audit log: who did what, when, from where (table `audit` in the server's SQLite file).

Admin actions (logins, logouts, host and build changes, orders) and failed logins are
recorded; the newest `KEEP` entries are kept.  Shown on /audit and by GET /api/v1/audit.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from provision.server.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    ok INTEGER NOT NULL DEFAULT 1
);
"""
KEEP = 100_000  # entries kept (older ones are deleted)
PRUNE_EVERY = 1000  # inserts between prunes
FIELD_MAX = {"actor": 64, "action": 64, "target": 256, "address": 64, "detail": 512}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: float
    actor: str  # "admin (web:1a2b3c4d)", "admin (api:...)", "anonymous", "cli"
    action: str  # login, login-failed, logout, host-assign, build-trigger, order-create...
    target: str  # what it acted on (a MAC, a profile, an order number)
    address: str  # the client's address
    detail: str
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog(Database):
    SCHEMA = SCHEMA

    def add(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        address: str = "",
        detail: str = "",
        ok: bool = True,
        now: float | None = None,
    ) -> AuditEntry:
        values = {
            "actor": actor,
            "action": action,
            "target": target,
            "address": address,
            "detail": detail,
        }
        clipped = {k: v[: FIELD_MAX[k]] for k, v in values.items()}
        stamp = time.time() if now is None else now
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO audit (time, actor, action, target, address, detail, ok)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stamp, *clipped.values(), int(ok)),
            )
            new_id = int(cur.lastrowid or 0)
            if new_id % PRUNE_EVERY == 0:
                db.execute("DELETE FROM audit WHERE id <= ?", (new_id - KEEP,))
        return AuditEntry(new_id, stamp, ok=ok, **clipped)

    def entries(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """Newest first; `before`: only entries with a smaller id (the next page)."""
        rows = self._db.execute(
            "SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**62, limit),
        ).fetchall()
        return [_entry(r) for r in rows]


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        time=row["time"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        address=row["address"],
        detail=row["detail"],
        ok=bool(row["ok"]),
    )
