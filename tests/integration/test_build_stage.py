"""The `stage` build root: a real root filesystem (debootstrap minbase + PyPI Portage, made by
the test and cached) unpacked per profile, entered with bubblewrap, EPREFIX empty."""

from __future__ import annotations

import pytest

from provision.builder.roots import StageRoot
from provision.run import run
from provision.signing import gpg_argv, load_key, stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from provision.snapshots.stage import sha512_of
from provision.snapshots.verify import check_binhost
from tests.integration.build_fixtures import make_stage_tarball, provision


@pytest.mark.timeout(1800)
def test_stage_root_builds_signed_packages_for_a_normal_root(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stage = make_stage_tarball()
    data = tmp_path_factory.mktemp("bh-stage") / "data"
    (data).mkdir()
    (data / "build.toml").write_text(f'root = "stage"\nstage = "{stage}"\n')
    try:
        res = provision(data, "build", "server-amd64")
        assert "published" in res.stdout
        snap = current_snapshot(data, "server-amd64")
        assert snap is not None
        key = load_key(DataLayout(data).keys)
        index = check_binhost(snap / "binhost", key.verify_home, key.fingerprint)
        assert index.cpvs() == [
            "app-admin/democonf-1.0",
            "app-misc/hello-1.0",
            "sys-apps/demo-base-1.0",
            "sys-kernel/demo-kernel-6.1.0",
        ]
        root = DataLayout(data).root("server-amd64")
        # installed at /usr/bin in the root: EPREFIX is empty
        assert (root / "usr/bin/hello").is_file()
        contents = (root / "var/db/pkg/app-misc/hello-1.0/CONTENTS").read_text()
        assert "obj /usr/bin/hello " in contents
        # the binary runs inside the root, entered the way the builder enters it
        from provision.builder.roots import Mounts

        mounts = Mounts(
            root, {}, DataLayout(data).pkgdir("server-amd64"), DataLayout(data).distfiles, key
        )
        argv = StageRoot(stage).bwrap_argv(mounts, "")
        assert run([*argv, "/usr/bin/hello"]).stdout.strip()
        # the pass ran emerge inside bwrap with the repo bind-mounted at /var/db/repos
        log = (root / "var/log/emerge.log").read_text()
        assert "app-misc/hello-1.0" in log
        assert (
            (root / "etc/portage/make.profile")
            .readlink()
            .as_posix()
            .startswith("/var/db/repos/provision-demo/")
        )
        # machines of the profile install from the same stage: published beside its signed
        # checksum, where the installer API serves it
        files = DataLayout(data).install_dir("server-amd64")
        sums = files / "stage.tar.zst.sha512"
        assert sums.read_text() == f"{sha512_of(stage)}  stage.tar.zst\n"
        run(gpg_argv(key.verify_home, "--verify", f"{sums}.asc", str(sums)))
        published = (files / "stage.tar.zst").stat().st_mtime_ns
        # a second pass is a no-op and keeps the snapshot (and the published stage)
        res = provision(data, "build", "server-amd64")
        assert current_snapshot(data, "server-amd64") == snap
        assert (files / "stage.tar.zst").stat().st_mtime_ns == published
    finally:
        stop_agents(DataLayout(data).keys)
