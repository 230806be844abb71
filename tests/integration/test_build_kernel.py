"""The vm-amd64 profile's bootable kernel: a fetch-restricted package whose files the admin
declares in build.toml [distfiles]; the builder provides them and writes the DIST lines into the
pass's repository snapshot only."""

from __future__ import annotations

import glob
from pathlib import Path

from provision.portage import gpkg
from provision.signing import stop_agents
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import provision

BUILD_TOML = """[distfiles."sys-kernel/demo-kernel-bin"]
"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"
"demo-kernel-bin-6.1.0.initrd" = "/boot/initrd.img-*"
"""


def test_prebuilt_kernel_from_local_distfiles(tmp_path: Path) -> None:
    assert glob.glob("/boot/vmlinuz-*") and glob.glob("/boot/initrd.img-*"), "linux-image-amd64"
    data = tmp_path / "data"
    data.mkdir()
    try:
        # without the declaration: held, with Portage's own fetch-restriction message
        res = provision(data, "build", "vm-amd64", check=False)
        assert res.returncode == 1 and "held" in res.stdout
        assert current_snapshot(data, "vm-amd64") is None

        (data / "build.toml").write_text(BUILD_TOML)
        provision(data, "build", "--trigger", "vm-amd64")
        provision(data, "build", "vm-amd64")
        snap = current_snapshot(data, "vm-amd64")
        assert snap is not None
        manifest = (snap / "repo/provision-demo/sys-kernel/demo-kernel-bin/Manifest").read_text()
        assert "DIST demo-kernel-bin-6.1.0.vmlinuz" in manifest and " SHA512 " in manifest
        assert not (DEMO_REPO / "sys-kernel/demo-kernel-bin/Manifest").exists()  # admin's tree
        entry = next(
            e for e in read_index(snap / "binhost").entries if "demo-kernel-bin" in e["CPV"]
        )
        files = {f.path: f for f in gpkg.image_manifest(snap / "binhost" / entry["PATH"])}
        kernel = next(f for p, f in files.items() if p.endswith("/boot/vmlinuz-6.1.0-demo"))
        assert (
            kernel.size
            == max((Path(p) for p in glob.glob("/boot/vmlinuz-*")), key=lambda p: p.stat().st_mtime)
            .stat()
            .st_size
        )
        assert any(p.endswith("/boot/initramfs-6.1.0-demo.img") for p in files)
        assert any(p.endswith("/sbin/init") for p in _image_paths(snap))
        # nothing changed: no new snapshot
        provision(data, "build", "vm-amd64")
        assert current_snapshot(data, "vm-amd64") == snap
    finally:
        stop_agents(data / "keys")


def _image_paths(snap: Path) -> list[str]:
    """Every path in the published packages (the demo init comes with sys-apps/demo-base)."""
    out = []
    for entry in read_index(snap / "binhost").entries:
        out += [f.path for f in gpkg.image_manifest(snap / "binhost" / entry["PATH"])]
    return out
