"""Config-merge reports hosts send after `provision etc-merge` (format provision-etc-merge/1),
kept per host in the server's SQLite file and shown on the host page."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from provision.errors import ConfigError
from provision.names import normalize_mac
from provision.server.db import Database

MAX_BYTES = 512 * 1024
KEEP = 20  # reports kept per host

SCHEMA = """
CREATE TABLE IF NOT EXISTS merge_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mac TEXT NOT NULL,
    received REAL NOT NULL,
    applied INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS merge_reports_mac ON merge_reports(mac, id);
"""


@dataclass(frozen=True)
class MergeReport:
    id: int
    mac: str
    received: float
    applied: int
    pending: int
    body: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mac": self.mac,
            "received": self.received,
            "applied": self.applied,
            "pending": self.pending,
            "report": self.body,
        }


def validate_report(data: Any) -> dict[str, Any]:
    """The boundary check: a JSON object with a files list and a pending list of paths."""
    if not isinstance(data, dict):
        raise ConfigError("report", "expected a JSON object")
    files = data.get("files", [])
    pending = data.get("pending", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise ConfigError("report.files", "expected a list of objects")
    if not isinstance(pending, list) or not all(isinstance(p, str) for p in pending):
        raise ConfigError("report.pending", "expected a list of paths")
    fmt = data.get("format", "")
    if fmt and not str(fmt).startswith("provision-etc-merge/"):
        raise ConfigError("report.format", f"{fmt!r} is not a provision-etc-merge report")
    return data


class MergeReports(Database):
    SCHEMA = SCHEMA

    def add(self, mac: str, report: dict[str, Any]) -> MergeReport:
        mac = normalize_mac(mac)
        body = validate_report(report)
        files = body.get("files", [])
        pending = len(body.get("pending", []))
        applied = body.get("applied", len(files) - pending)
        if not isinstance(applied, int):
            applied = len(files) - pending
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO merge_reports (mac, received, applied, pending, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (mac, time.time(), applied, pending, json.dumps(body)),
            )
            db.execute(
                "DELETE FROM merge_reports WHERE mac = ? AND id NOT IN"
                " (SELECT id FROM merge_reports WHERE mac = ? ORDER BY id DESC LIMIT ?)",
                (mac, mac, KEEP),
            )
            row = db.execute(
                "SELECT * FROM merge_reports WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
        return _report(row)

    def for_host(self, mac: str) -> list[MergeReport]:
        rows = self._db.execute(
            "SELECT * FROM merge_reports WHERE mac = ? ORDER BY id DESC", (normalize_mac(mac),)
        ).fetchall()
        return [_report(r) for r in rows]


def _report(row: sqlite3.Row) -> MergeReport:
    return MergeReport(
        id=row["id"],
        mac=row["mac"],
        received=row["received"],
        applied=row["applied"],
        pending=row["pending"],
        body=json.loads(row["body"]),
    )
