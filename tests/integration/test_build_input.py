"""Issue 3, show 6: bad input -> one clear line, exit 2, nothing published or half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.build_fixtures import DEMO_REPO, make_test_profile, provision


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        pytest.param("ok", ["build", "nope"], "unknown profile 'nope'", id="unknown-profile"),
        pytest.param(
            "ok", ["build", "--trigger", "nope"], "unknown profile 'nope'", id="trigger-unknown"
        ),
        pytest.param("norepo", ["build", "t"], "does not exist", id="missing-repository"),
        pytest.param(
            "ok",
            ["build", "--root", "stage", "--stage", "/nonexistent/stage3.tar.xz", "t"],
            "/nonexistent/stage3.tar.xz: stage tarball not found",
            id="missing-stage-tarball",
        ),
        pytest.param("stagetoml", ["build", "t"], "stage tarball not found", id="build-toml-stage"),
        pytest.param("badtoml", ["build", "t"], "build.toml: root", id="bad-build-toml"),
        pytest.param("nokey", ["build", "t"], "is not in", id="key-missing-from-keyring"),
        pytest.param("ok", ["key", "--export"], "no signing key", id="export-without-key"),
        pytest.param("ok", ["rollback", "t"], "no published snapshots", id="rollback-nothing"),
    ],
)
def test_bad_input_is_refused(tmp_path: Path, case: str, args: list[str], message: str) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = make_test_profile(tmp_path / "profiles", repo, ["app-misc/hello"])
    data = tmp_path / "data"
    data.mkdir()
    if case == "norepo":
        shutil.rmtree(repo)
    elif case == "stagetoml":
        (data / "build.toml").write_text('[profile.t]\nroot = "stage"\nstage = "gone.tar.xz"\n')
    elif case == "badtoml":
        (data / "build.toml").write_text('root = "chroot"\n')
    elif case == "nokey":
        (data / "keys").mkdir()
        (data / "keys/fingerprint").write_text("0123456789ABCDEF0123456789ABCDEF01234567\n")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    res = provision(data, *args, profiles=profiles, check=False)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provision: error: "), res.stderr
    assert message in lines[0]
    assert not (data / "snapshots").exists()
    assert not (data / "builds").exists()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
