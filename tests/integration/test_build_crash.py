"""Issue 3, show 5: kill -9 of the builder during a build and during publication, repeated;
what is served is always a complete, consistent snapshot (index = files, signatures verify)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path

from provision.signing import load_key, stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot, list_snapshots
from provision.snapshots.verify import check_binhost
from tests.integration.build_fixtures import (
    DEMO_REPO,
    make_test_profile,
    popen_cli,
    provision,
    serve,
)


def _phase(data: Path) -> str:
    try:
        return str(json.loads(DataLayout(data).state_file("t").read_text())["phase"])
    except (FileNotFoundError, ValueError):
        return ""


def _kill_when(data: Path, profiles: Path, phase: str, log_marker: str = "") -> str:
    """Start a pass, kill -9 its whole process group once it reaches `phase`; the phase left."""
    proc = popen_cli(data, "build", "t", profiles=profiles)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if _phase(data) == phase:
                if not log_marker:
                    break
                logs = sorted(DataLayout(data).logs("t").glob("*.log"))
                if logs and log_marker in logs[-1].read_text(errors="replace"):
                    break
            assert proc.poll() is None, f"the pass ended before reaching {phase}"
            time.sleep(0.002)
        else:
            raise AssertionError(f"never reached {phase}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return _phase(data)


def _assert_served_consistent(data: Path, url: str) -> str:
    snap = current_snapshot(data, "t")
    assert snap is not None
    key = load_key(DataLayout(data).keys)
    check_binhost(snap / "binhost", key.verify_home, key.fingerprint)
    assert (snap / "repo.tar.gz").is_file() and (snap / "meta.json").is_file()
    with urllib.request.urlopen(f"{url}/binhost/t/Packages", timeout=30) as r:
        assert r.read() == (snap / "binhost/Packages").read_bytes()
        assert r.headers["X-Provision-Snapshot"] == snap.name
    return snap.name


def _bump(repo: Path, n: int) -> None:
    for pkg in ("app-misc/hello/hello", "app-misc/greeter/greeter"):
        src = repo / f"{pkg}-1.0.ebuild"
        shutil.copy(src, repo / f"{pkg}-1.0-r{n}.ebuild")


def test_kill_during_build_and_publication_keeps_serving_a_whole_snapshot(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = make_test_profile(
        tmp_path / "profiles", repo, ["app-misc/hello", "app-misc/greeter"]
    )
    data = tmp_path / "data"
    try:
        provision(data, "build", "t", profiles=profiles)
        with serve(data, profiles) as url:
            served = {_assert_served_consistent(data, url)}
            for n in (1, 2):
                _bump(repo, n)
                left = _kill_when(data, profiles, "building", ">>> Emerging (")
                assert left == "building"
                served.add(_assert_served_consistent(data, url))
            interrupted_publications = 0
            for n in (3, 4, 5):
                _bump(repo, n)
                left = _kill_when(data, profiles, "publishing")
                interrupted_publications += left == "publishing"
                served.add(_assert_served_consistent(data, url))
            assert interrupted_publications >= 1, "no kill landed inside a publication"
            # The next pass recovers: cleans up, reuses what was built, publishes.
            res = provision(data, "build", "t", profiles=profiles)
            assert "published" in res.stdout
            final = _assert_served_consistent(data, url)
        base = DataLayout(data).snapshots("t")
        assert not [p for p in base.iterdir() if p.name.startswith(".incoming-")]
        key = load_key(DataLayout(data).keys)
        for sid in list_snapshots(DataLayout(data), "t"):
            check_binhost(base / sid / "binhost", key.verify_home, key.fingerprint)
        assert "app-misc/hello-1.0-r5" in (base / final / "binhost/Packages").read_text()
    finally:
        stop_agents(DataLayout(data).keys)
