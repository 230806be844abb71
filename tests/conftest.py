"""Shared fixtures.  Unit tests may not start processes: see tests/unit/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
DEMO_REPO = PROFILES / "repo"


@pytest.fixture
def profiles_dir() -> Path:
    return PROFILES
