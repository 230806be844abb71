"""Builder benchmark: a full build of the demo profile (prefix root, signed, published), then
no-op passes of the unchanged profile through the real CLI (`provision build P`), against
Portage's own no-op in the same root: `emerge` of @world with the builder's options, then
`emerge @preserved-rebuild` (medians of 3)."""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, RUNS, Row
from provision.builder.plan import emerge_argv, preserved_rebuild_argv
from provision.builder.roots import Mounts, PrefixRoot
from provision.profiles import ProfileSet
from provision.run import run
from provision.signing import load_key, stop_agents
from provision.snapshots.index import read_index
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot

PROFILE = "desktop-amd64"
GOAL = 1.3


def _cli(data: Path, *args: str) -> float:
    start = time.monotonic()
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    run([*argv, "--profiles-dir", str(ROOT / "profiles"), *args], timeout=600)
    return time.monotonic() - start


def portage_noop(data: Path, log: Path) -> float:
    """Seconds for Portage's own no-op in the builder's root, configured as a pass leaves it
    (its repositories: the current snapshot's)."""
    layout = DataLayout(data)
    profile = ProfileSet(ROOT / "profiles").get(PROFILE)
    snap = current_snapshot(data, PROFILE)
    assert snap is not None
    mounts = Mounts(
        root=layout.root(PROFILE),
        repos={r.name: snap / "repo" / r.name for r in profile.repositories},
        pkgdir=layout.pkgdir(PROFILE),
        distdir=layout.distfiles,
        key=load_key(layout.keys),
    )
    root = PrefixRoot()
    root.prepare(profile, mounts, 1)
    start = time.monotonic()
    for argv in (emerge_argv(), preserved_rebuild_argv()):
        res = root.emerge(mounts, argv, log)
        assert res.returncode == 0, log.read_text()[-2000:]
    return time.monotonic() - start


def main() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="bh-bench-"))
    data = base / "data"
    try:
        full = _cli(data, "build", PROFILE)
        snap = current_snapshot(data, PROFILE)
        assert snap is not None
        count = len(read_index(snap / "binhost").entries)
        ours, peer = [], []
        for _ in range(RUNS):  # interleaved: load from elsewhere hits both alike
            ours.append(_cli(data, "build", PROFILE))
            assert current_snapshot(data, PROFILE) == snap, "a no-op pass published a snapshot"
            peer.append(portage_noop(data, base / "portage-noop.log"))
        noop, own = statistics.median(ours), statistics.median(peer)
        print(f"full build of {PROFILE} ({count} packages, signed, published): {full:.1f} s")
        runs = ", ".join(f"{x:.2f}" for x in ours)
        print(f"no-op pass of unchanged {PROFILE}: {noop:.2f} s (runs: {runs}); "
              f"Portage's own no-op {own:.2f} s")  # fmt: skip
    finally:
        stop_agents(DataLayout(data).keys)
        shutil.rmtree(base, ignore_errors=True)
    return [
        Row(
            f"no-op pass (`provision build {PROFILE}`, nothing changed)",
            f"{noop:.2f} s",
            f"Portage's own no-op (@world + @preserved-rebuild, same root): {own:.2f} s",
            noop / own,
            f"<= {GOAL:g}x",
            noop / own <= GOAL,
        )
    ]


if __name__ == "__main__":
    main()
