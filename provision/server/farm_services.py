"""The build farm's per-app services: its store (DATA_DIR/farm.sqlite), its timing (build.toml
[farm]) and, when `provision serve --broker` runs one, the dispatcher (queue lengths, routing).
Made on first use and kept in app.extensions (the store's key ends in ".store": closed with the
app's other stores)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from provision.builder import BuildSettings, load_build_settings
from provision.farm.dispatch import Farm
from provision.farm.store import FarmStore
from provision.server.app import settings_of
from provision.snapshots.layout import DataLayout

STORE = "provision.farm.store"
SETTINGS = "provision.farm.settings"
FARM = "provision.farm.dispatcher"
_LOCK = threading.Lock()


def _app(app: Flask | None) -> Flask:
    return app or current_app._get_current_object()  # type: ignore[attr-defined]


def farm_store(app: Flask | None = None) -> FarmStore:
    app = _app(app)
    with _LOCK:
        found = app.extensions.get(STORE)
        if found is None:
            found = FarmStore.in_data_dir(settings_of(app).data_dir)
            app.extensions[STORE] = found
    assert isinstance(found, FarmStore)
    return found


def build_settings(app: Flask | None = None) -> BuildSettings:
    app = _app(app)
    with _LOCK:
        found = app.extensions.get(SETTINGS)
        if found is None:
            found = load_build_settings(DataLayout(settings_of(app).data_dir).settings_file)
            app.extensions[SETTINGS] = found
    assert isinstance(found, BuildSettings)
    return found


def attach_farm(app: Flask, farm: Farm, settings: BuildSettings) -> None:
    app.extensions[FARM] = farm
    app.extensions[SETTINGS] = settings
    app.extensions[STORE] = farm.store


def farm(app: Flask | None = None) -> Farm | None:
    found: Any = _app(app).extensions.get(FARM)
    return found if isinstance(found, Farm) else None
