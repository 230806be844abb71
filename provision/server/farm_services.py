"""The build farm's per-app services: its store (DATA_DIR/farm.sqlite), its timing (build.toml
[farm]) and, when `provision serve --broker` runs one, the dispatcher (queue lengths, routing).
Made on first use and kept in app.extensions (the store's key ends in ".store": closed with the
app's other stores)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from provision.builder import BuildSettings, load_build_settings
from provision.farm.dispatch import Farm
from provision.farm.store import FarmStore
from provision.server.app import settings_of
from provision.server.services import app_of, extension
from provision.snapshots.layout import DataLayout

STORE = "provision.farm.store"
SETTINGS = "provision.farm.settings"
FARM = "provision.farm.dispatcher"


def farm_store(app: Flask | None = None) -> FarmStore:
    app = app_of(app)
    return extension(app, STORE, lambda: FarmStore.in_data_dir(settings_of(app).data_dir))


def build_settings(app: Flask | None = None) -> BuildSettings:
    app = app_of(app)
    settings_file = DataLayout(settings_of(app).data_dir).settings_file
    return extension(app, SETTINGS, lambda: load_build_settings(settings_file))


def attach_farm(app: Flask, farm: Farm, settings: BuildSettings) -> None:
    app.extensions[FARM] = farm
    app.extensions[SETTINGS] = settings
    app.extensions[STORE] = farm.store


def farm(app: Flask | None = None) -> Farm | None:
    found: Any = app_of(app).extensions.get(FARM)
    return found if isinstance(found, Farm) else None
