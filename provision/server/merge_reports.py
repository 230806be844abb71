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

MAX_BYTES = 512 * 1024  # the request body cap of POST .../etc-merge-report
MAX_ITEMS = 10_000  # files, pending paths, the applied count
PATH_MAX = 4096
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
    """The boundary check: a JSON object with a files list and a pending list of paths, every
    count and string bounded (the whole body is at most MAX_BYTES)."""
    if not isinstance(data, dict):
        raise ConfigError("report", "expected a JSON object")
    files = data.get("files", [])
    pending = data.get("pending", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise ConfigError("report.files", "expected a list of objects")
    if len(files) > MAX_ITEMS:
        raise ConfigError("report.files", f"more than {MAX_ITEMS} files")
    if not isinstance(pending, list) or not all(isinstance(p, str) for p in pending):
        raise ConfigError("report.pending", "expected a list of paths")
    if len(pending) > MAX_ITEMS or any(len(p) > PATH_MAX for p in pending):
        raise ConfigError("report.pending", f"more than {MAX_ITEMS} paths, or a path too long")
    applied = data.get("applied", 0)
    if isinstance(applied, bool) or not isinstance(applied, int) or not 0 <= applied <= MAX_ITEMS:
        raise ConfigError("report.applied", f"expected a count from 0 to {MAX_ITEMS}")
    fmt = data.get("format", "")
    if not isinstance(fmt, str) or (fmt and not fmt.startswith("provision-etc-merge/")):
        raise ConfigError("report.format", f"{fmt!r} is not a provision-etc-merge report")
    _typed("report", data, REPORT_FIELDS)
    for i, entry in enumerate(files):
        _typed(f"report.files[{i}]", entry, FILE_FIELDS)
    return data


REPORT_FIELDS: dict[str, type] = {"host": str, "time": str, "mode": str, "dry_run": bool}
FILE_FIELDS: dict[str, type] = {"path": str, "action": str, "reason": str, "applied": bool}


def _typed(where: str, table: dict[str, Any], fields: dict[str, type]) -> None:
    """The known fields of a report (or of one of its files) have their type and a bounded
    length; other fields are kept as sent (the body cap and JSON depth bound them)."""
    for key, kind in fields.items():
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, kind) or (isinstance(value, str) and len(value) > PATH_MAX):
            what = "true or false" if kind is bool else f"a string of at most {PATH_MAX}"
            raise ConfigError(f"{where}.{key}", f"expected {what}")


class MergeReports(Database):
    SCHEMA = SCHEMA

    def add(self, mac: str, report: dict[str, Any]) -> MergeReport:
        mac = normalize_mac(mac)
        body = validate_report(report)
        files = body.get("files", [])
        pending = len(body.get("pending", []))
        applied = body.get("applied")
        if applied is None:
            applied = max(0, len(files) - pending)
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
