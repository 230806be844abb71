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


def _get(app: Flask, name: str, make: Callable[[], T]) -> T:
    key = PREFIX + name
    found = app.extensions.get(key)
    if found is None:
        with _LOCK:
            found = app.extensions.get(key)
            if found is None:
                found = make()
                app.extensions[key] = found
    return found


def store(app: Flask | None = None) -> Store:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "store", lambda: Store.in_data_dir(settings_of(app).data_dir))


def orders(app: Flask | None = None) -> OrderQueue:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "orders", lambda: OrderQueue.in_data_dir(settings_of(app).data_dir))


def reports(app: Flask | None = None) -> MergeReports:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "reports", lambda: MergeReports.in_data_dir(settings_of(app).data_dir))


def sessions(app: Flask | None = None) -> Sessions:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "sessions", lambda: Sessions.in_data_dir(settings_of(app).data_dir))


def throttle(app: Flask | None = None) -> LoginThrottle:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "throttle", lambda: LoginThrottle.in_data_dir(settings_of(app).data_dir))


def audit_log(app: Flask | None = None) -> AuditLog:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "audit", lambda: AuditLog.in_data_dir(settings_of(app).data_dir))


def sightings(app: Flask | None = None) -> Sightings:
    """Network-boot downloads by client address (HTTP boot, TFTP): provision.server.bootpaths."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "sightings", Sightings)


def order_config(app: Flask | None = None) -> OrderConfig:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _get(app, "order_config", lambda: load_config(settings_of(app).data_dir))


def profiles(app: Flask | None = None) -> ProfileSet:
    """A fresh ProfileSet per call: edits to the profile files show without a restart."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return ProfileSet(settings_of(app).profiles_dir)


def attach_worker(app: Flask, worker: OrderWorker) -> None:
    app.extensions[PREFIX + "worker"] = worker


def worker(app: Flask | None = None) -> OrderWorker | None:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found: Any = app.extensions.get(PREFIX + "worker")
    return found if isinstance(found, OrderWorker) else None


def close_services(app: Flask) -> None:
    for name in ("store", "orders", "reports", "sessions", "throttle", "audit"):
        svc = app.extensions.pop(PREFIX + name, None)
        if svc is not None:
            svc.close()
