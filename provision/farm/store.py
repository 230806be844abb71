"""The farm's state on the server: DATA_DIR/farm.sqlite (0600; tokens are kept as hashes).

workers        name, token hash, revoked, last heartbeat (host, queues, profiles, slot), flag
passes         one per builder pass sent to the farm: profile, state, required agreeing workers
slots          a pass's unit of work for one worker: the lease (holder, fencing token, epoch,
               heartbeat), the Celery task that carries it, the upload manifest, the outcome
events         what happened to each slot (leases granted/refused/expired, republished, ...)
verifications  per (profile, package, build state): which worker produced which content digest

The lease is the server's guard against Celery's at-least-once and at-most-once failures: only
the holder of the current lease may heartbeat, upload and complete; a lease is granted only when
the slot is queued or its holder has been silent for longer than the lease TTL.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, NotFound
from provision.farm.model import (
    OPEN_SLOTS,
    PassState,
    SlotState,
    hash_token,
    new_token,
    slot_id,
    worker_name,
)

DB_NAME = "farm.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL,
    last_seen REAL NOT NULL DEFAULT 0,
    host TEXT NOT NULL DEFAULT '',
    queues TEXT NOT NULL DEFAULT '[]',
    profiles TEXT NOT NULL DEFAULT '[]',
    slot TEXT NOT NULL DEFAULT '',
    flag TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS passes (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    state TEXT NOT NULL,
    required INTEGER NOT NULL,
    repo_digest TEXT NOT NULL,
    description TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS passes_profile ON passes(profile, created);
CREATE TABLE IF NOT EXISTS slots (
    id TEXT PRIMARY KEY,
    pass_id TEXT NOT NULL REFERENCES passes(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    state TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT '',
    task_id TEXT NOT NULL DEFAULT '',
    published REAL NOT NULL DEFAULT 0,
    publishes INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    lease TEXT NOT NULL DEFAULT '',
    epoch INTEGER NOT NULL DEFAULT 0,
    beat REAL NOT NULL DEFAULT 0,
    leased_at REAL NOT NULL DEFAULT 0,
    manifest TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS slots_pass ON slots(pass_id, n);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot TEXT NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    worker TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_slot ON events(slot, id);
CREATE TABLE IF NOT EXISTS verifications (
    profile TEXT NOT NULL,
    cpv TEXT NOT NULL,
    state TEXT NOT NULL,
    content TEXT NOT NULL,
    worker TEXT NOT NULL,
    pass_id TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (profile, cpv, state, worker, content)
);
"""


class LeaseAnswer(StrEnum):
    GRANTED = "granted"
    HELD = "held"  # another delivery holds a live lease (409)
    TAKEN = "taken"  # this worker already has a slot of the pass: k-of-n wants others (409)
    GONE = "gone"  # the slot is finished or cancelled (410)
    UNKNOWN = "unknown"  # no such slot (404)


@dataclass(frozen=True)
class Worker:
    name: str
    created: float
    revoked: float | None
    last_seen: float
    host: str
    queues: tuple[str, ...]
    profiles: tuple[str, ...]
    slot: str
    flag: str

    def live(self, now: float, window: float) -> bool:
        return self.revoked is None and now - self.last_seen <= window


@dataclass(frozen=True)
class Pass:
    id: str
    profile: str
    state: PassState
    required: int
    repo_digest: str
    description: dict[str, Any]
    error: str
    created: float
    finished: float | None


@dataclass(frozen=True)
class Slot:
    id: str
    pass_id: str
    n: int
    state: SlotState
    queue: str
    task_id: str
    published: float
    publishes: int
    worker: str
    lease: str
    epoch: int
    beat: float
    leased_at: float
    manifest: dict[str, Any] | None
    error: str
    updated: float


@dataclass(frozen=True)
class Event:
    slot: str
    time: float
    kind: str
    worker: str
    detail: str


class FarmStore:
    """Thread-safe (one connection, one lock); construct explicitly, close when done."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FarmStore:
        return cls(data_dir / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- workers and their tokens ---------------------------------------------------------------
    def create_worker(self, name: str) -> str:
        """A new worker token for `name` (a revoked name gets a new token); returns the token."""
        name = worker_name(name)
        token = new_token()
        with self._tx() as db:
            row = db.execute("SELECT revoked FROM workers WHERE name = ?", (name,)).fetchone()
            if row is not None and row["revoked"] is None:
                raise ConfigError("worker", f"{name} already has a token (revoke it first)")
            db.execute("DELETE FROM workers WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO workers (name, token_hash, created) VALUES (?, ?, ?)",
                (name, hash_token(token), time.time()),
            )
        return token

    def revoke_worker(self, name: str) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE workers SET revoked = ? WHERE name = ? AND revoked IS NULL",
                (time.time(), worker_name(name)),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no worker {name!r} with a valid token")
            # its leases end now: another worker takes its slots at once
            db.execute(
                "UPDATE slots SET beat = 0 WHERE worker = ? AND state = ?",
                (name, SlotState.LEASED.value),
            )

    def workers(self) -> list[Worker]:
        return [_worker(r) for r in self._all("SELECT * FROM workers ORDER BY name")]

    def worker(self, name: str) -> Worker | None:
        rows = self._all("SELECT * FROM workers WHERE name = ?", (name,))
        return _worker(rows[0]) if rows else None

    def worker_by_token(self, token: str) -> Worker | None:
        """The worker a (valid, unrevoked) token belongs to."""
        if not token:
            return None
        rows = self._all(
            "SELECT * FROM workers WHERE token_hash = ? AND revoked IS NULL", (hash_token(token),)
        )
        return _worker(rows[0]) if rows else None

    def heartbeat(
        self, name: str, *, host: str, queues: list[str], profiles: list[str], slot: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE workers SET last_seen = ?, host = ?, queues = ?, profiles = ?, slot = ?"
                " WHERE name = ?",
                (time.time(), host, json.dumps(queues), json.dumps(profiles), slot, name),
            )

    def flag(self, name: str, reason: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE workers SET flag = ? WHERE name = ?", (reason[:500], name))

    # --- passes ---------------------------------------------------------------------------------
    def create_pass(
        self, pass_id: str, profile: str, required: int, repo_digest: str, desc: dict[str, Any]
    ) -> list[Slot]:
        """The pass and its `required` slots (queued, not published yet)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO passes (id, profile, state, required, repo_digest, description,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    pass_id,
                    profile,
                    PassState.OPEN.value,
                    required,
                    repo_digest,
                    json.dumps(desc),
                    now,
                ),
            )
            for n in range(1, required + 1):
                _insert_slot(db, pass_id, n, now)
        return self.slots(pass_id)

    def add_slot(self, pass_id: str) -> Slot:
        with self._tx() as db:
            n = db.execute(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM slots WHERE pass_id = ?", (pass_id,)
            ).fetchone()[0]
            _insert_slot(db, pass_id, n, time.time())
        return self.slot(slot_id(pass_id, n))

    def get_pass(self, pass_id: str) -> Pass:
        rows = self._all("SELECT * FROM passes WHERE id = ?", (pass_id,))
        if not rows:
            raise NotFound(f"no farm pass {pass_id}")
        return _pass(rows[0])

    def open_pass(self, profile: str) -> Pass | None:
        rows = self._all(
            "SELECT * FROM passes WHERE profile = ? AND state = ? ORDER BY created DESC LIMIT 1",
            (profile, PassState.OPEN.value),
        )
        return _pass(rows[0]) if rows else None

    def open_passes(self) -> list[Pass]:
        return [
            _pass(r)
            for r in self._all("SELECT * FROM passes WHERE state = ?", (PassState.OPEN.value,))
        ]

    def recent_passes(self, profile: str, limit: int = 10) -> list[Pass]:
        rows = self._all(
            "SELECT * FROM passes WHERE profile = ? ORDER BY created DESC LIMIT ?",
            (profile, limit),
        )
        return [_pass(r) for r in rows]

    def set_description(self, pass_id: str, desc: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE passes SET description = ? WHERE id = ?", (json.dumps(desc), pass_id)
            )

    def finish_pass(self, pass_id: str, state: PassState, error: str = "") -> None:
        """Close a pass; its open slots are cancelled (their holders are fenced)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE passes SET state = ?, error = ?, finished = ? WHERE id = ?",
                (state.value, error[:4000], now, pass_id),
            )
            open_ids = [
                r["id"]
                for r in db.execute(
                    "SELECT id FROM slots WHERE pass_id = ? AND state IN (?, ?, ?)",
                    (pass_id, *[s.value for s in OPEN_SLOTS], SlotState.UPLOADED.value),
                )
            ]
            for sid in open_ids:
                db.execute(
                    "UPDATE slots SET state = ?, lease = '', updated = ? WHERE id = ?",
                    (SlotState.CANCELLED.value, now, sid),
                )
                _event(db, sid, "cancelled", "", f"pass {state.value}")

    # --- slots ----------------------------------------------------------------------------------
    def slots(self, pass_id: str) -> list[Slot]:
        rows = self._all("SELECT * FROM slots WHERE pass_id = ? ORDER BY n", (pass_id,))
        return [_slot(r) for r in rows]

    def slot(self, sid: str) -> Slot:
        rows = self._all("SELECT * FROM slots WHERE id = ?", (sid,))
        if not rows:
            raise NotFound(f"no slot {sid}")
        return _slot(rows[0])

    def slots_in(self, *states: SlotState) -> list[Slot]:
        marks = ", ".join("?" for _ in states)
        rows = self._all(
            f"SELECT * FROM slots WHERE state IN ({marks}) ORDER BY pass_id, n",
            tuple(s.value for s in states),
        )
        return [_slot(r) for r in rows]

    def published(self, sid: str, queue: str, task_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE slots SET queue = ?, task_id = ?, published = ?,"
                " publishes = publishes + 1, updated = ? WHERE id = ?",
                (queue, task_id, time.time(), time.time(), sid),
            )
            _event(db, sid, "published", "", f"{queue} task {task_id}")

    def touch_published(self, sid: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE slots SET published = ? WHERE id = ?", (time.time(), sid))

    def lease(
        self, sid: str, worker: str, delivery: str, ttl: float
    ) -> tuple[LeaseAnswer, Slot | None]:
        """Grant the slot to `worker` for this delivery of its task, or say why not."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT * FROM slots WHERE id = ?", (sid,)).fetchone()
            if row is None:
                return LeaseAnswer.UNKNOWN, None
            slot = _slot(row)
            state = db.execute("SELECT state FROM passes WHERE id = ?", (slot.pass_id,)).fetchone()[
                "state"
            ]
            if state != PassState.OPEN.value or slot.state not in OPEN_SLOTS:
                _event(db, sid, "refused", worker, f"gone ({slot.state.value}) {delivery}")
                return LeaseAnswer.GONE, slot
            if slot.state is SlotState.LEASED and now - slot.beat < ttl:
                _event(db, sid, "refused", worker, f"held by {slot.worker} {delivery}")
                return LeaseAnswer.HELD, slot
            others = db.execute(
                "SELECT id FROM slots WHERE pass_id = ? AND id != ? AND worker = ?"
                " AND state NOT IN (?, ?)",
                (slot.pass_id, sid, worker, SlotState.QUEUED.value, SlotState.CANCELLED.value),
            ).fetchall()
            if others:
                _event(db, sid, "refused", worker, f"already built {others[0]['id']} {delivery}")
                return LeaseAnswer.TAKEN, slot
            if slot.state is SlotState.LEASED:
                _event(db, sid, "expired", slot.worker, "taken over: no heartbeat")
            lease = secrets.token_urlsafe(24)
            db.execute(
                "UPDATE slots SET state = ?, worker = ?, lease = ?, epoch = epoch + 1, beat = ?,"
                " leased_at = ?, updated = ? WHERE id = ?",
                (SlotState.LEASED.value, worker, lease, now, now, now, sid),
            )
            _event(db, sid, "granted", worker, delivery)
        return LeaseAnswer.GRANTED, self.slot(sid)

    def holder(self, sid: str, worker: str, lease: str) -> Slot | None:
        """The slot when `worker` holds its current lease (leased), else None (fenced)."""
        rows = self._all(
            "SELECT * FROM slots WHERE id = ? AND worker = ? AND lease = ? AND state = ?",
            (sid, worker, lease, SlotState.LEASED.value),
        )
        return _slot(rows[0]) if rows and lease else None

    def beat(self, sid: str, worker: str, lease: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE slots SET beat = ? WHERE id = ? AND worker = ? AND lease = ? AND state = ?",
                (time.time(), sid, worker, lease, SlotState.LEASED.value),
            )
        return cur.rowcount == 1 and bool(lease)

    def expire(self, sid: str, before: float) -> bool:
        """Take a lease whose last heartbeat is older than `before` back (queued again)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT worker FROM slots WHERE id = ? AND state = ? AND beat < ?",
                (sid, SlotState.LEASED.value, before),
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE slots SET state = ?, lease = '', manifest = '', updated = ? WHERE id = ?",
                (SlotState.QUEUED.value, time.time(), sid),
            )
            _event(db, sid, "expired", row["worker"], "no heartbeat within the lease TTL")
        return True

    def grace(self, now: float) -> None:
        """After a server restart: every lease and queued slot starts its clocks again."""
        with self._tx() as db:
            db.execute("UPDATE slots SET beat = ? WHERE state = ?", (now, SlotState.LEASED.value))
            db.execute(
                "UPDATE slots SET published = ? WHERE state = ?", (now, SlotState.QUEUED.value)
            )

    def set_manifest(self, sid: str, manifest: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE slots SET manifest = ?, updated = ? WHERE id = ?",
                (json.dumps(manifest), time.time(), sid),
            )

    def set_state(self, sid: str, state: SlotState, error: str = "", worker: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE slots SET state = ?, error = ?, updated = ? WHERE id = ?",
                (state.value, error[:4000], time.time(), sid),
            )
            _event(db, sid, state.value, worker, error[:500])

    def note(self, sid: str, kind: str, worker: str = "", detail: str = "") -> None:
        with self._tx() as db:
            _event(db, sid, kind, worker, detail)

    def events(self, pass_id: str) -> list[Event]:
        rows = self._all("SELECT * FROM events WHERE slot LIKE ? ORDER BY id", (f"{pass_id}.%",))
        return [Event(r["slot"], r["time"], r["kind"], r["worker"], r["detail"]) for r in rows]

    # --- k-of-n ---------------------------------------------------------------------------------
    def record(
        self, profile: str, cpv: str, state: str, content: str, worker: str, pass_id: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO verifications VALUES (?, ?, ?, ?, ?, ?, ?)",
                (profile, cpv, state, content, worker, pass_id, time.time()),
            )

    def agreeing(self, profile: str, cpv: str, state: str) -> dict[str, set[str]]:
        """content digest -> the workers that produced it (for this package and build state)."""
        out: dict[str, set[str]] = {}
        rows = self._all(
            "SELECT content, worker FROM verifications WHERE profile = ? AND cpv = ? AND state = ?",
            (profile, cpv, state),
        )
        for r in rows:
            out.setdefault(r["content"], set()).add(r["worker"])
        return out

    def verification_counts(self, profile: str) -> dict[str, dict[str, set[str]]]:
        """cpv -> content -> workers, over every build state (the builds page)."""
        out: dict[str, dict[str, set[str]]] = {}
        for r in self._all(
            "SELECT cpv, content, worker FROM verifications WHERE profile = ?", (profile,)
        ):
            out.setdefault(r["cpv"], {}).setdefault(r["content"], set()).add(r["worker"])
        return out


def _insert_slot(db: sqlite3.Connection, pass_id: str, n: int, now: float) -> None:
    db.execute(
        "INSERT INTO slots (id, pass_id, n, state, updated) VALUES (?, ?, ?, ?, ?)",
        (slot_id(pass_id, n), pass_id, n, SlotState.QUEUED.value, now),
    )


def _event(db: sqlite3.Connection, sid: str, kind: str, worker: str, detail: str) -> None:
    db.execute(
        "INSERT INTO events (slot, time, kind, worker, detail) VALUES (?, ?, ?, ?, ?)",
        (sid, time.time(), kind, worker, detail[:1000]),
    )


def _worker(r: sqlite3.Row) -> Worker:
    return Worker(
        name=r["name"],
        created=r["created"],
        revoked=r["revoked"],
        last_seen=r["last_seen"],
        host=r["host"],
        queues=tuple(json.loads(r["queues"])),
        profiles=tuple(json.loads(r["profiles"])),
        slot=r["slot"],
        flag=r["flag"],
    )


def _pass(r: sqlite3.Row) -> Pass:
    return Pass(
        id=r["id"],
        profile=r["profile"],
        state=PassState(r["state"]),
        required=r["required"],
        repo_digest=r["repo_digest"],
        description=json.loads(r["description"]),
        error=r["error"],
        created=r["created"],
        finished=r["finished"],
    )


def _slot(r: sqlite3.Row) -> Slot:
    return Slot(
        id=r["id"],
        pass_id=r["pass_id"],
        n=r["n"],
        state=SlotState(r["state"]),
        queue=r["queue"],
        task_id=r["task_id"],
        published=r["published"],
        publishes=r["publishes"],
        worker=r["worker"],
        lease=r["lease"],
        epoch=r["epoch"],
        beat=r["beat"],
        leased_at=r["leased_at"],
        manifest=json.loads(r["manifest"]) if r["manifest"] else None,
        error=r["error"],
        updated=r["updated"],
    )
