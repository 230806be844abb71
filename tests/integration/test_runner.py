from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.errors import CommandError
from provision.run import run, run_feeding, spawn


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


def test_run_feeding_streams_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_feeding(["sh", "-c", f"cat > {out}"], (bytes([i]) * 1000 for i in range(200)))
    data = out.read_bytes()
    assert len(data) == 200_000 and data[:1000] == b"\0" * 1000


def test_run_feeding_failures() -> None:
    with pytest.raises(CommandError) as err:
        run_feeding(
            ["sh", "-c", "head -c 10 >/dev/null; echo refused >&2; exit 4"],
            (b"x" * 65536 for _ in range(100)),
        )
    assert err.value.returncode == 4 and "refused" in err.value.stderr

    def bad_chunks() -> Iterator[bytes]:
        yield b"ok"
        raise ValueError("chunk 2 failed verification")

    with pytest.raises(ValueError, match="chunk 2"):
        run_feeding(["cat"], bad_chunks())


def test_run_feeding_timeout() -> None:
    with pytest.raises(CommandError, match=r"timed out after 0\.3 s"):
        run_feeding(["sleep", "10"], [b""], timeout=0.3)


def test_spawn_and_stop(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    daemon = spawn(["sh", "-c", "echo started; exec sleep 60"], log_path=log)
    deadline = time.monotonic() + 20
    while log.read_text() != "started\n" and time.monotonic() < deadline:
        time.sleep(0.02)  # the daemon has started once it said so
    assert daemon.running
    assert daemon.stop(timeout=5) == -15  # SIGTERM
    assert not daemon.running and log.read_text() == "started\n"
    quitter = spawn(["sh", "-c", "echo bye >&2; exit 3"], log_path=tmp_path / "q.log")
    quitter.proc.wait(timeout=10)
    with pytest.raises(CommandError, match="bye"):
        quitter.check()
