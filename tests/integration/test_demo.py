"""`make demo`'s job (provision demo), minus serving, from a relative data dir as the Makefile
passes it: the prefix-root demo profiles built, signed and published with their system images,
the live kit, an ISO and the TFTP tree.  (vm-amd64, built in a stage root, and the demo
machine: tests/vm/test_demo_vm.py.)"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pycdlib

from provision.image.pack import files_in
from provision.run import run
from provision.server.datadir import secure_data_dir
from provision.signing import stop_agents
from provision.snapshots.read import current_snapshot
from tests.conftest import PROFILES, ROOT

PREFIX_PROFILES = ("desktop-amd64", "laptop-amd64", "server-amd64")


def demo(cwd: Path, *args: str) -> str:
    """`provision --data-dir var/demo demo ...` run in cwd (the CLI from this tree)."""
    only = [a for p in PREFIX_PROFILES for a in ("--profile", p)]
    argv = [sys.executable, "-m", "provision", "--data-dir", "var/demo", "--profiles-dir",
            str(PROFILES), "demo", "--live", "marker", "--no-serve", "--iso-profile",
            "desktop-amd64", *only, *args]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return run(argv, cwd=cwd, env=env, timeout=1200).stdout


def test_demo_builds_everything(tmp_path: Path) -> None:
    data = tmp_path / "var" / "demo"
    try:
        out = demo(tmp_path)
        # the relative data dir was made absolute before Portage saw it: the prefix roots'
        # make.profile links are absolute paths into the data dir (a relative one pointed
        # nowhere from inside the root and held every profile); every profile published
        for name in PREFIX_PROFILES:
            link = (data / "builds" / name / "root" / "etc/portage/make.profile").readlink()
            assert link.is_absolute() and link.is_relative_to(data), link
        for name in PREFIX_PROFILES:
            snap = current_snapshot(data, name)
            assert snap is not None, name
            assert files_in(snap / "image").signature.is_file()
        settings = tomllib.loads((data / "server.toml").read_text())
        assert len(settings["secret_key"]) >= 32 and settings["admin_password_hash"].startswith(
            "scrypt:"
        )
        assert {p.name for p in (data / "tftp").iterdir()} >= {
            "boot.ipxe",
            "undionly.kpxe",
            "ipxe.efi",
        }
        iso = pycdlib.PyCdlib()
        iso.open(str(data / "images/desktop-amd64.iso"))
        try:
            names = [c.file_identifier() for c in iso.list_children(iso_path="/")]
            assert names  # a readable ISO 9660 image
        finally:
            iso.close()
        assert "The demo is built:" in out and "admin password" in out
        # the data dir is a server's from the start: `serve` finds nothing to make private
        assert secure_data_dir(data) == []
        # a second run is cheap: nothing changed, nothing is rebuilt
        again = demo(tmp_path)
        assert again.count("published snapshot") == 3
    finally:
        stop_agents(data / "keys")
