"""Unit tests are pure: any attempt to start a process fails loudly."""

from __future__ import annotations

import os
import subprocess
from typing import Any, NoReturn

import pytest


class ProcessRefused(BaseException):
    """A unit test tried to start a process.  A BaseException, so that code under test that
    catches Exception cannot swallow it and pass by accident."""


@pytest.fixture(autouse=True)
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise ProcessRefused(f"unit test tried to start a process: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    for name in ("system", "posix_spawn", "posix_spawnp", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)
