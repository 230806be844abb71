"""Shared fixtures.  Unit tests may not start processes: see tests/unit/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.run import run

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
DEMO_REPO = PROFILES / "repo"


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
