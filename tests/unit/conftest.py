"""Unit tests are pure: any attempt to start a process fails loudly."""

from __future__ import annotations

import subprocess
from typing import Any, NoReturn

import pytest


@pytest.fixture(autouse=True)
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"unit test tried to start a process: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
