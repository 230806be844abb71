"""The server's state in SQLite (one file in the data dir): hosts and their install events.

The host model (Host, HostState, Event) is provision.hosts; this is its storage.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time

from provision.errors import NotFound
from provision.hosts import (
    Event,
    EventKind,
    Host,
    HostState,
    check_hostname,
    normalize_mac,
)
from provision.names import ProfileName
from provision.server.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS hosts (
    mac TEXT PRIMARY KEY,
    hostname TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'new',
    boot_local INTEGER NOT NULL DEFAULT 0,
    wipe INTEGER NOT NULL DEFAULT 0,
    token TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mac TEXT NOT NULL REFERENCES hosts(mac) ON DELETE CASCADE,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    step TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    progress REAL,
    log_tail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_mac ON events(mac, id);
CREATE INDEX IF NOT EXISTS hosts_token ON hosts(token);
CREATE INDEX IF NOT EXISTS hosts_name ON hosts(hostname, mac);
CREATE TABLE IF NOT EXISTS host_settings (
    mac TEXT NOT NULL REFERENCES hosts(mac) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (mac, key)
);
"""
# A host row with its events as one JSON array (Store.host_with_events).  printf's "!" flag
# gives 17 significant digits, so each real comes back exactly.
HOST_WITH_EVENTS = """
SELECT h.*, (
    SELECT json_group_array(json_array(
        e.id, printf('%!.17g', e.time), e.kind, e.step, e.message,
        CASE WHEN e.progress IS NULL THEN NULL ELSE printf('%!.17g', e.progress) END,
        e.log_tail))
    FROM (SELECT * FROM events WHERE mac = h.mac AND id > ? ORDER BY id) AS e
) AS events_json
FROM hosts AS h WHERE h.mac = ?
"""


class Store(Database):
    """Hosts and their events; safe to share between threads (a connection per thread)."""

    SCHEMA = SCHEMA

    # --- hosts -------------------------------------------------------------------------
    def upsert_host(
        self,
        mac: str,
        *,
        profile: str | None = None,
        hostname: str | None = None,
        wipe: bool | None = None,
    ) -> Host:
        """Create the host if new; set the given fields.  Returns the host."""
        mac = normalize_mac(mac)
        if profile:
            ProfileName(profile)
        if hostname is not None:
            hostname = check_hostname(hostname)
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT mac FROM hosts WHERE mac = ?", (mac,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO hosts (mac, token, created, updated) VALUES (?, ?, ?, ?)",
                    (mac, secrets.token_urlsafe(24), now, now),
                )
            if profile is not None:
                db.execute(
                    "UPDATE hosts SET profile = ?, updated = ? WHERE mac = ?", (profile, now, mac)
                )
            if hostname is not None:
                db.execute(
                    "UPDATE hosts SET hostname = ?, updated = ? WHERE mac = ?",
                    (hostname, now, mac),
                )
            if wipe is not None:
                db.execute(
                    "UPDATE hosts SET wipe = ?, updated = ? WHERE mac = ?", (int(wipe), now, mac)
                )
        return self.host(mac)

    def find_host(self, mac: str) -> Host | None:
        row = self._db.execute(
            "SELECT * FROM hosts WHERE mac = ?", (normalize_mac(mac),)
        ).fetchone()
        return _host(row) if row else None

    def host(self, mac: str) -> Host:
        found = self.find_host(mac)
        if found is None:
            raise NotFound(f"unknown host {mac}")
        return found

    def host_by_token(self, token: str) -> Host | None:
        row = self._db.execute("SELECT * FROM hosts WHERE token = ?", (token,)).fetchone()
        return _host(row) if row and token else None

    def hosts(self) -> list[Host]:
        rows = self._db.execute("SELECT * FROM hosts ORDER BY hostname, mac").fetchall()
        return [_host(r) for r in rows]

    def set_state(self, mac: str, state: HostState, *, ip: str | None = None) -> Host:
        mac = normalize_mac(mac)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE hosts SET state = ?, updated = ? WHERE mac = ?",
                (state.value, time.time(), mac),
            )
            if cur.rowcount == 0:
                raise NotFound(f"unknown host {mac}")
            if state is HostState.INSTALLED:
                db.execute("UPDATE hosts SET boot_local = 1, wipe = 0 WHERE mac = ?", (mac,))
            if ip is not None:
                db.execute("UPDATE hosts SET ip = ? WHERE mac = ?", (ip, mac))
        return self.host(mac)

    def request_reinstall(self, mac: str, *, wipe: bool = True) -> Host:
        """Boot-once again: the next network boot runs the installer (and may wipe the disk)."""
        mac = normalize_mac(mac)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE hosts SET boot_local = 0, wipe = ?, state = 'new', updated = ?"
                " WHERE mac = ?",
                (int(wipe), time.time(), mac),
            )
            if cur.rowcount == 0:
                raise NotFound(f"unknown host {mac}")
        return self.host(mac)

    def delete_host(self, mac: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM hosts WHERE mac = ?", (normalize_mac(mac),))

    def set_host_setting(self, mac: str, key: str, value: str) -> None:
        """A per-host install setting (root_password_hash, ssh_authorized_keys, network)."""
        mac = normalize_mac(mac)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM hosts WHERE mac = ?", (mac,)).fetchone() is None:
                raise NotFound(f"unknown host {mac}")
            db.execute(
                "INSERT OR REPLACE INTO host_settings (mac, key, value) VALUES (?, ?, ?)",
                (mac, key, value),
            )

    def host_settings(self, mac: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT key, value FROM host_settings WHERE mac = ?", (normalize_mac(mac),)
        ).fetchall()
        return {r["key"]: r["value"] for r in rows}

    # --- events ------------------------------------------------------------------------
    def add_event(
        self,
        mac: str,
        kind: EventKind,
        *,
        step: str = "",
        message: str = "",
        progress: float | None = None,
        log_tail: str = "",
    ) -> Event:
        mac = normalize_mac(mac)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM hosts WHERE mac = ?", (mac,)).fetchone() is None:
                raise NotFound(f"unknown host {mac}")
            cur = db.execute(
                "INSERT INTO events (mac, time, kind, step, message, progress, log_tail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    mac,
                    time.time(),
                    EventKind(kind).value,
                    step,
                    message,
                    progress,
                    log_tail[-8192:],
                ),
            )
            row = db.execute("SELECT * FROM events WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _event(row)

    def events(self, mac: str, *, after: int = 0) -> list[Event]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE mac = ? AND id > ? ORDER BY id",
            (normalize_mac(mac), after),
        ).fetchall()
        return [_event(r) for r in rows]

    def host_with_events(self, mac: str, *, after: int = 0) -> tuple[Host, list[Event]]:
        """A host and its events (id > after) in one query: the API's busiest read.  SQLite
        hands the events back as one JSON array (reals printed with 17 digits: exact), so the
        answer is one row, not one per event: every row is a step that lets go of the GIL, and
        under many threads each of those is a hand-off between threads (issue 20)."""
        row = self._db.execute(HOST_WITH_EVENTS, (after, normalize_mac(mac))).fetchone()
        if row is None:
            raise NotFound(f"unknown host {mac}")
        host = _host(row)
        events = [
            _event_of(i, host.mac, float(t), kind, step, message, p, tail)
            for i, t, kind, step, message, p, tail in json.loads(row["events_json"])
        ]
        return host, sorted(events, key=lambda e: e.id)

    def progress(self) -> dict[str, tuple[float, str]]:
        """Each host's latest reported progress (0..1) and the step it was in."""
        rows = self._db.execute(
            "SELECT mac, progress, step FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE progress IS NOT NULL GROUP BY mac)"
        ).fetchall()
        return {r["mac"]: (float(r["progress"]), r["step"]) for r in rows}


def _host(row: sqlite3.Row) -> Host:
    return Host(
        mac=row["mac"],
        hostname=row["hostname"],
        profile=row["profile"],
        state=HostState(row["state"]),
        boot_local=bool(row["boot_local"]),
        wipe=bool(row["wipe"]),
        token=row["token"],
        ip=row["ip"],
        created=row["created"],
        updated=row["updated"],
    )


def _event(row: sqlite3.Row) -> Event:
    return _event_of(
        row["id"],
        row["mac"],
        row["time"],
        row["kind"],
        row["step"],
        row["message"],
        row["progress"],
        row["log_tail"],
    )


def _event_of(
    event_id: int,
    mac: str,
    at: float,
    kind: str,
    step: str,
    message: str,
    progress: float | str | None,
    log_tail: str,
) -> Event:
    value = None if progress is None else float(progress)
    if value is not None and not 0.0 <= value <= 1.0:
        value = None  # stored before progress was range-checked (NaN, Infinity, 1e30)
    return Event(
        id=event_id,
        mac=mac,
        time=at,
        kind=EventKind(kind),
        step=step,
        message=message,
        progress=value,
        log_tail=log_tail,
    )
