from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import CommandError
from provision.run import run


def test_run_captures() -> None:
    res = run(["sh", "-c", "echo out; echo err >&2"])
    assert res.stdout == "out\n" and res.stderr == "err\n" and res.returncode == 0


def test_run_failure_carries_details() -> None:
    with pytest.raises(CommandError) as err:
        run(["sh", "-c", "echo boom >&2; exit 3"])
    assert err.value.returncode == 3 and err.value.stderr == "boom\n"


def test_run_timeout_and_missing() -> None:
    with pytest.raises(CommandError, match="timed out"):
        run(["sleep", "5"], timeout=0.2)
    with pytest.raises(CommandError, match="not found"):
        run(["/nonexistent/tool"])


def test_run_log_path(tmp_path: Path) -> None:
    log = tmp_path / "l" / "run.log"
    res = run(["sh", "-c", "echo one; echo two >&2"], log_path=log)
    assert log.read_text() == "one\ntwo\n"
    assert res.stdout.endswith("two\n")
