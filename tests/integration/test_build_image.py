"""Issue 12 through the builder: each publication carries the profile's signed system image;
unchanged package sets reuse it; an installer streams it over HTTP from `current`."""

from __future__ import annotations

import shutil
from pathlib import Path

from provision.image.pack import files_in
from provision.image.unpack import install_image
from provision.signing import load_key, stop_agents
from provision.snapshots.read import current_snapshot
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import make_test_profile, provision, serve

NEW_EBUILD = """EAPI=8
DESCRIPTION="Demo: a package no profile uses (changes the repository, not the set)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
"""


def test_snapshots_carry_the_system_image(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = make_test_profile(tmp_path / "p", repo, ["app-misc/greeter"])
    data = tmp_path / "data"
    try:
        provision(data, "build", "t", profiles=profiles)
        first = current_snapshot(data, "t")
        assert first is not None
        image = files_in(first / "image")
        assert image.image.stat().st_size > 0 and image.signature.is_file()

        # a no-op pass: same snapshot, no image work
        provision(data, "build", "t", profiles=profiles)
        assert current_snapshot(data, "t") == first
        assert (
            "making the system image"
            not in sorted((data / "builds/t/logs").iterdir())[-1].read_text()
        )

        # the repository changes but not the package set: new snapshot, the same image file
        (repo / "app-misc/unused").mkdir()
        (repo / "app-misc/unused/unused-1.0.ebuild").write_text(NEW_EBUILD)
        provision(data, "build", "t", profiles=profiles)
        second = current_snapshot(data, "t")
        assert second is not None and second != first
        assert files_in(second / "image").image.stat().st_ino == image.image.stat().st_ino

        key = load_key(data / "keys")
        with serve(data, profiles) as url:
            target = tmp_path / "target"
            manifest = install_image(f"{url}/image/t/current", target, key.verify_home)
        assert manifest.profile == "t"
        eprefix = str(data.resolve() / "builds/t/root").lstrip("/")
        vdb = target / eprefix / "var/db/pkg"
        installed = sorted(f"{c.name}/{p.name}" for c in vdb.iterdir() for p in c.iterdir())
        assert installed == [
            "app-misc/greeter-1.0",
            "app-misc/hello-1.0",
            "dev-libs/libgreet-1.0",
            "sys-apps/demo-base-1.0",
        ]
        assert (target / eprefix / "usr/bin/greeter").is_file()

        # the set shrinks but greeter's binary stays in the binhost: a new image without it
        make_test_profile(tmp_path / "p", repo, ["app-misc/hello"])
        provision(data, "build", "t", profiles=profiles)
        third = current_snapshot(data, "t")
        assert third is not None and third != second
        assert files_in(third / "image").image.stat().st_ino != image.image.stat().st_ino
        smaller = tmp_path / "target2"
        install_image(str(third / "image"), smaller, key.verify_home)
        assert not (smaller / eprefix / "usr/bin/greeter").exists()
        assert (smaller / eprefix / "usr/bin/hello").is_file()
    finally:
        stop_agents(data / "keys")
