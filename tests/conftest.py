"""Shared fixtures.  Unit tests may not start processes: see tests/unit/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.run import run
from tests.webapp import close_app, login, make_app

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
DEMO_REPO = PROFILES / "repo"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is marked integration, under tests/vm vm: `-m` selects
    by kind without each file having to remember its marker."""
    for item in items:
        kind = item.path.relative_to(ROOT / "tests").parts[0]
        if kind in ("integration", "vm"):
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture
def profiles_dir() -> Path:
    return PROFILES


@pytest.fixture(scope="session", autouse=True)
def stop_gpg_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Signing starts a gpg-agent per GnuPG home; stop the ones the tests' homes started."""
    yield
    base = tmp_path_factory.getbasetemp()
    for directory, _, files in os.walk(base):  # does not follow symlinks (rootfs trees inside)
        if "S.gpg-agent" in files:
            run(["gpgconf", "--homedir", directory, "--kill", "gpg-agent"], check=False)


@pytest.fixture
def app(tmp_path: Path, profiles_dir: Path) -> Iterator[Flask]:
    app = make_app(tmp_path / "data", profiles_dir)
    yield app
    close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    c = app.test_client()
    login(c)
    return c
