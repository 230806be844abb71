"""Builder benchmark: a full build of the demo profile (prefix root, signed, published), then a
no-op rebuild of the unchanged profile (goal: under 5 s), both through the real CLI."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from provision.run import run
from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "desktop-amd64"


def _cli(data: Path, *args: str) -> float:
    start = time.monotonic()
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    run([*argv, "--profiles-dir", str(ROOT / "profiles"), *args], timeout=600)
    return time.monotonic() - start


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bh-bench-"))
    data = base / "data"
    try:
        full = _cli(data, "build", PROFILE)
        snap = current_snapshot(data, PROFILE)
        assert snap is not None
        count = len(read_index(snap / "binhost").entries)
        noop = _cli(data, "build", PROFILE)
        assert current_snapshot(data, PROFILE) == snap, "a no-op pass published a new snapshot"
        print(f"full build of {PROFILE} ({count} packages, signed, published): {full:.1f} s")
        verdict = "ok" if noop < 5 else "OVER GOAL"
        print(f"no-op rebuild of unchanged {PROFILE}: {noop:.2f} s (goal < 5 s: {verdict})")
    finally:
        stop_agents(DataLayout(data).keys)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
