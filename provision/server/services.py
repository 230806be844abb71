"""Per-app services for the web UI and admin API: the host store, the order queue, merge
reports, admin sessions, the login throttle, the audit log, the profiles.  Made on first use
and kept in app.extensions; `close_services` closes them (tests, shutdown).  `provision serve`
may attach an OrderWorker with `attach_worker`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app

from provision.profiles import ProfileSet
from provision.server.app import settings_of
from provision.server.audit import AuditLog
from provision.server.bootpaths import Sightings
from provision.server.images import OrderWorker
from provision.server.merge_reports import MergeReports
from provision.server.orders import OrderConfig, OrderQueue, load_config
from provision.server.sessions import Sessions
from provision.server.store import Store
from provision.server.throttle import LoginThrottle

T = TypeVar("T")
_LOCK = threading.Lock()
PREFIX = "provision.web."


def app_of(app: Flask | None) -> Flask:
    """The given app, or the one handling the current request."""
    return app or current_app._get_current_object()  # type: ignore[attr-defined]


def extension(app: Flask, key: str, make: Callable[[], T]) -> T:
    """app.extensions[key], made by make() on first use (once, under a lock).  Objects under a
    key ending in ".store" are closed by close_services."""
    found = app.extensions.get(key)
    if found is None:
        with _LOCK:
            found = app.extensions.get(key)
            if found is None:
                found = make()
                app.extensions[key] = found
    return found


def _get(app: Flask, name: str, make: Callable[[], T]) -> T:
    return extension(app, PREFIX + name, make)


def store(app: Flask | None = None) -> Store:
    app = app_of(app)
    return _get(app, "store", lambda: Store.in_data_dir(settings_of(app).data_dir))


def orders(app: Flask | None = None) -> OrderQueue:
    app = app_of(app)
    return _get(app, "orders", lambda: OrderQueue.in_data_dir(settings_of(app).data_dir))


def reports(app: Flask | None = None) -> MergeReports:
    app = app_of(app)
    return _get(app, "reports", lambda: MergeReports.in_data_dir(settings_of(app).data_dir))


def sessions(app: Flask | None = None) -> Sessions:
    app = app_of(app)
    return _get(app, "sessions", lambda: Sessions.in_data_dir(settings_of(app).data_dir))


def throttle(app: Flask | None = None) -> LoginThrottle:
    app = app_of(app)
    return _get(app, "throttle", lambda: LoginThrottle.in_data_dir(settings_of(app).data_dir))


def audit_log(app: Flask | None = None) -> AuditLog:
    app = app_of(app)
    return _get(app, "audit", lambda: AuditLog.in_data_dir(settings_of(app).data_dir))


def sightings(app: Flask | None = None) -> Sightings:
    """Network-boot downloads by client address (HTTP boot, TFTP): provision.server.bootpaths."""
    app = app_of(app)
    return _get(app, "sightings", Sightings)


def order_config(app: Flask | None = None) -> OrderConfig:
    app = app_of(app)
    return _get(app, "order_config", lambda: load_config(settings_of(app).data_dir))


def profiles(app: Flask | None = None) -> ProfileSet:
    """A fresh ProfileSet per call: edits to the profile files show without a restart."""
    app = app_of(app)
    return ProfileSet(settings_of(app).profiles_dir)


def attach_worker(app: Flask, worker: OrderWorker) -> None:
    app.extensions[PREFIX + "worker"] = worker


def worker(app: Flask | None = None) -> OrderWorker | None:
    app = app_of(app)
    found: Any = app.extensions.get(PREFIX + "worker")
    return found if isinstance(found, OrderWorker) else None


def close_services(app: Flask) -> None:
    """Close the app's databases: these services' and every other part's ".store"."""
    names = ("store", "orders", "reports", "sessions", "throttle", "audit")
    closed = {PREFIX + name for name in names}
    for key in [k for k in app.extensions if k in closed or k.endswith(".store")]:
        app.extensions.pop(key).close()
