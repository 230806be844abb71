"""Image orders: an ISO or a tarball for a profile, queued in SQLite, mailed when ready,
expired when nobody fetched them.

    queued -> building -> ready -> expired
                      \\-> failed

The queue lives in the server's SQLite file (table `orders`).  Settings come from
DATA_DIR/orders.toml (optional):

    smtp_host = "mail.example.org"   # empty: no mail is sent (the order page still shows it)
    smtp_port = 25
    mail_from = "provision@example.org"
    keep_unfetched_hours = 72        # an image nobody fetched is deleted after this
    keep_fetched_hours = 168         # a fetched image is deleted this long after the last fetch
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, NotFound
from provision.names import EmailAddress
from provision.server.db import Database
from provision.server.eta import Job, queue_etas


class OrderKind(StrEnum):
    ISO = "iso"  # a per-profile install ISO
    TARBALL = "tarball"  # the system image (or an install bundle) as a tar


KINDS = tuple(k.value for k in OrderKind)
CONFIG_NAME = "orders.toml"

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    kind TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'queued',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    fetched REAL,
    path TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0,
    token TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_state ON orders(state, id);
CREATE INDEX IF NOT EXISTS orders_kind ON orders(kind, id);
"""


class OrderState(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Order:
    id: int
    profile: str
    kind: OrderKind
    email: str
    state: OrderState
    created: float
    started: float | None
    finished: float | None
    fetched: float | None
    path: str
    size: int
    error: str
    progress: float
    token: str  # the unguessable part of the download link

    @property
    def filename(self) -> str:
        return Path(self.path).name if self.path else ""


@dataclass(frozen=True)
class OrderConfig:
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "provision@localhost"
    keep_unfetched_hours: float = 72.0
    keep_fetched_hours: float = 168.0


def check_email(value: str) -> str:
    """One e-mail address or "" (no mail): never a list (provision.names.EmailAddress)."""
    return str(EmailAddress(value)) if value != "" else ""


def check_kind(value: str) -> OrderKind:
    if value not in KINDS:
        raise ConfigError("kind", f"{value!r} is not an image kind (allowed: {', '.join(KINDS)})")
    return OrderKind(value)


def parse_config(text: str, where: str) -> OrderConfig:
    """Pure: orders.toml text -> OrderConfig, naming the file and field on bad input."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from exc
    fields = OrderConfig.__dataclass_fields__
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"{where}: {key}", f"unknown key (allowed: {', '.join(fields)})")
        default = getattr(OrderConfig, key)
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{where}: {key}", "expected a string")
        if isinstance(default, (int, float)) and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise ConfigError(f"{where}: {key}", "expected a number >= 0")
        values[key] = type(default)(value)
    if values.get("smtp_port", 25) > 65535:
        raise ConfigError(f"{where}: smtp_port", "expected a port number (1-65535)")
    return OrderConfig(**values)


def load_config(data_dir: Path) -> OrderConfig:
    path = data_dir / CONFIG_NAME
    if not path.is_file():
        return OrderConfig()
    return parse_config(path.read_text(), str(path))


def select_expired(orders: Iterable[Order], now: float, config: OrderConfig) -> list[int]:
    """Pure: ids of ready images to delete — unfetched too long, or fetched long ago."""
    out = []
    for o in orders:
        if o.state is not OrderState.READY or o.finished is None:
            continue
        if o.fetched is None:
            too_old = now - o.finished > config.keep_unfetched_hours * 3600
        else:
            too_old = now - o.fetched > config.keep_fetched_hours * 3600
        if too_old:
            out.append(o.id)
    return out


class OrderQueue(Database):
    """The orders table; thread-safe; construct explicitly and close when done."""

    SCHEMA = SCHEMA

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)

    def create(self, profile: str, kind: str, email: str = "") -> Order:
        cur = self._exec(
            "INSERT INTO orders (profile, kind, email, created, token) VALUES (?, ?, ?, ?, ?)",
            (profile, check_kind(kind), check_email(email), time.time(), secrets.token_urlsafe(18)),
        )
        assert cur.lastrowid is not None
        return self.get(cur.lastrowid)

    def find(self, order_id: int) -> Order | None:
        row = self._exec("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return _order(row) if row else None

    def get(self, order_id: int) -> Order:
        found = self.find(order_id)
        if found is None:
            raise NotFound(f"unknown order {order_id}")
        return found

    def all(self, limit: int = 200) -> list[Order]:
        rows = self._exec("SELECT * FROM orders ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_order(r) for r in rows]

    def active(self) -> list[Order]:
        """Building and queued orders, in the order they will be served."""
        rows = self._exec(
            "SELECT * FROM orders WHERE state IN ('building', 'queued')"
            " ORDER BY state = 'queued', id"
        ).fetchall()
        return [_order(r) for r in rows]

    def claim_next(self) -> Order | None:
        """Atomically take the oldest queued order (queued -> building)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM orders WHERE state = 'queued' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE orders SET state = 'building', started = ?, progress = 0 WHERE id = ?",
                (time.time(), row["id"]),
            )
        return self.get(row["id"])

    def set_progress(self, order_id: int, progress: float) -> None:
        self._exec(
            "UPDATE orders SET progress = ? WHERE id = ?", (min(1.0, max(0.0, progress)), order_id)
        )

    def finish(self, order_id: int, path: Path) -> Order:
        self._exec(
            "UPDATE orders SET state = 'ready', finished = ?, path = ?, size = ?, progress = 1"
            " WHERE id = ?",
            (time.time(), str(path), path.stat().st_size, order_id),
        )
        return self.get(order_id)

    def fail(self, order_id: int, error: str) -> Order:
        self._exec(
            "UPDATE orders SET state = 'failed', finished = ?, error = ? WHERE id = ?",
            (time.time(), error[:2000], order_id),
        )
        return self.get(order_id)

    def mark_fetched(self, order_id: int) -> None:
        self._exec("UPDATE orders SET fetched = ? WHERE id = ?", (time.time(), order_id))

    def mark_expired(self, order_id: int) -> None:
        self._exec("UPDATE orders SET state = 'expired', path = '' WHERE id = ?", (order_id,))

    def requeue_interrupted(self) -> int:
        """After a restart: orders left 'building' by a dead worker go back to the queue."""
        return self._exec(
            "UPDATE orders SET state = 'queued', started = NULL, progress = 0"
            " WHERE state = 'building'"
        ).rowcount

    def durations(self, kind: str, limit: int = 20) -> list[float]:
        """Build times of the last finished images of a kind, oldest first (for the ETA)."""
        rows = self._exec(
            "SELECT finished - started AS d FROM orders WHERE kind = ? AND started IS NOT NULL"
            " AND finished IS NOT NULL AND state IN ('ready', 'expired')"
            " ORDER BY id DESC LIMIT ?",
            (kind, limit),
        ).fetchall()
        return [float(r["d"]) for r in reversed(rows)]


def sweep(queue: OrderQueue, now: float, config: OrderConfig) -> list[int]:
    """Delete the images select_expired() picks and mark their orders expired."""
    expired = select_expired(queue.all(limit=10_000), now, config)
    for order_id in expired:
        order = queue.get(order_id)
        if order.path:
            Path(order.path).unlink(missing_ok=True)
        queue.mark_expired(order_id)
    return expired


def etas(queue: OrderQueue, now: float) -> dict[int, float]:
    """Seconds until each active order is ready, predicted from past image times."""
    jobs = [Job(o.id, o.kind, o.started) for o in queue.active()]
    history = {kind: queue.durations(kind) for kind in KINDS}
    return queue_etas(jobs, history, now)


def _order(row: sqlite3.Row) -> Order:
    return Order(
        id=row["id"],
        profile=row["profile"],
        kind=OrderKind(row["kind"]),
        email=row["email"],
        state=OrderState(row["state"]),
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        fetched=row["fetched"],
        path=row["path"],
        size=row["size"],
        error=row["error"],
        progress=row["progress"],
        token=row["token"],
    )
