"""Issue 3, show 4: a failing ebuild holds the profile; the previous snapshot stays served; status
says why; fix + trigger (picked up by a running `build --forever`) resumes without rebuilding
what was built before the failure."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index
from tests.integration.build_fixtures import DEMO_REPO, make_test_profile, popen_cli, provision

BROKEN = """EAPI=8
inherit demo-c
DESCRIPTION="Demo: greeter, broken on purpose"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
src_compile() { die "broken on purpose"; }
"""


def _status(data: Path, profiles: Path, name: str) -> dict[str, object]:
    out = provision(data, "status", "--json", name, profiles=profiles).stdout
    row = json.loads(out)[0]
    assert isinstance(row, dict)
    return row


def _wait_state(data: Path, name: str, want: str, timeout: float = 300) -> None:
    state = DataLayout(data).state_file(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["phase"] == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {want}: {state.read_text()}")


def test_failing_ebuild_holds_then_trigger_resumes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = make_test_profile(
        tmp_path / "profiles", repo, ["app-misc/hello", "app-misc/greeter"]
    )
    data = tmp_path / "data"
    try:
        provision(data, "build", "t", profiles=profiles)
        first = current_snapshot(data, "t")
        assert first is not None
        served = (first / "binhost/Packages").read_bytes()

        # A new revision that builds, and a new greeter version that fails.
        hello = repo / "app-misc/hello"
        shutil.copy(hello / "hello-1.0.ebuild", hello / "hello-1.0-r1.ebuild")
        (repo / "app-misc/greeter/greeter-1.1.ebuild").write_text(BROKEN)
        res = provision(data, "build", "t", profiles=profiles, check=False)
        assert res.returncode == 1
        assert "held: app-misc/greeter-1.1 failed (compile phase)" in res.stdout
        assert current_snapshot(data, "t") == first
        assert (first / "binhost/Packages").read_bytes() == served
        st = _status(data, profiles, "t")
        assert st["state"] == "held"
        assert st["snapshot"] == first.name
        assert st["error"] == "app-misc/greeter-1.1 failed (compile phase)"
        assert "broken on purpose" in Path(str(st["log"])).read_text()
        staging = DataLayout(data).pkgdir("t")
        assert (staging / "app-misc/hello/hello-1.0-r1-1.gpkg.tar").is_file()

        # Held: a plain build does not touch it.
        res = provision(data, "build", "t", profiles=profiles, check=False)
        assert res.returncode == 1 and "held" in res.stdout
        assert _status(data, profiles, "t")["log"] == st["log"]

        # Fix, and trigger a running forever-builder.
        shutil.copy(
            repo / "app-misc/greeter/greeter-1.0.ebuild",
            repo / "app-misc/greeter/greeter-1.1.ebuild",
        )
        forever = popen_cli(data, "build", "--forever", "t", profiles=profiles)
        try:
            provision(data, "build", "--trigger", "t", profiles=profiles)
            _wait_state(data, "t", "published")
        finally:
            forever.kill()
            forever.wait()
        second = current_snapshot(data, "t")
        assert second is not None and second != first
        # binpkg-multi-instance: the binhost keeps the earlier builds next to the new ones
        assert read_index(second / "binhost").cpvs() == [
            "app-misc/greeter-1.0",
            "app-misc/greeter-1.1",
            "app-misc/hello-1.0",
            "app-misc/hello-1.0-r1",
            "dev-libs/libgreet-1.0",
            "sys-apps/demo-base-1.0",
        ]
        log = Path(str(_status(data, profiles, "t")["log"])).read_text()
        assert ">>> Emerging (1 of 1) app-misc/greeter-1.1" in log
        assert "hello-1.0-r1" not in log  # built before the failure: not rebuilt
        assert not (staging / "app-misc/hello/hello-1.0-r1-2.gpkg.tar").exists()
        # The held pass's snapshot is still around for rollback.
        res = provision(data, "rollback", "t", profiles=profiles)
        assert current_snapshot(data, "t") == first
        assert _status(data, profiles, "t")["state"] == "held"
    finally:
        stop_agents(DataLayout(data).keys)
