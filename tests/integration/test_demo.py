"""`make demo`'s job (provision demo), minus serving: every demo profile built, signed and
published with its system image, the live kit, an ISO and the TFTP tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pycdlib

from provision.image.pack import files_in
from provision.signing import stop_agents
from provision.snapshots.read import current_snapshot
from tests.integration.build_fixtures import provision


def test_demo_builds_everything(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    try:
        out = provision(data, "demo", "--live", "marker", "--no-serve").stdout
        for name in ("desktop-amd64", "laptop-amd64", "server-amd64", "vm-amd64"):
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
        # a second run is cheap: nothing changed, nothing is rebuilt
        again = provision(data, "demo", "--live", "marker", "--no-serve").stdout
        assert again.count("published snapshot") == 4
    finally:
        stop_agents(data / "keys")
