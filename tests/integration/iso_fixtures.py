"""Helpers for ISO tests: a data dir with a key and a live kit, a snapshot, the iso CLI, and
reading a file back from an image by its Rock Ridge path."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pycdlib
import pytest

from provision.cli import main
from provision.live.initramfs import make_marker_bootkit
from provision.run import run
from tests.conftest import PROFILES

pytestmark = pytest.mark.integration
SERVER = "http://192.0.2.1:8080"
MAC = "52:54:00:12:34:56"


def make_data_dir(data: Path) -> Path:
    """A data dir with the marker live environment and a real OpenPGP public key."""
    make_marker_bootkit(data / "live")
    home = Path(tempfile.mkdtemp(prefix="iso-gpg-"))  # short: gpg-agent's socket path
    try:
        gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty"]
        run(
            [
                *gpg,
                "--passphrase",
                "",
                "--quick-gen-key",
                "iso <iso@example.org>",
                "ed25519",
                "sign",
                "never",
            ]
        )
        key = run([*gpg, "--armor", "--export"]).stdout
    finally:
        run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    (data / "keys").mkdir(parents=True, exist_ok=True)
    (data / "keys" / "public.asc").write_text(key)
    return data


def iso_cli(data: Path, *args: str) -> int:
    return main(["--data-dir", str(data), "--profiles-dir", str(PROFILES), "iso", *args])


def read_rr(iso_path: Path, rr_path: str) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=rr_path)
        return out.getvalue()
    finally:
        iso.close()


def make_snapshot(root: Path) -> Path:
    """A tiny published snapshot: binhost/ (index + one package) and repo/."""
    snap = root / "snapshots" / "desktop-amd64" / "20240101-000000"
    (snap / "binhost" / "app-misc" / "hello").mkdir(parents=True)
    (snap / "binhost" / "Packages").write_text("PACKAGES: 1\n\nCPV: app-misc/hello-1.0\n")
    pkg = snap / "binhost" / "app-misc" / "hello" / "hello-1.0-1.gpkg.tar"
    pkg.write_bytes(os.urandom(300_000))
    (snap / "repo" / "profiles").mkdir(parents=True)
    (snap / "repo" / "profiles" / "repo_name").write_text("demo\n")
    (root / "snapshots" / "desktop-amd64" / "current").symlink_to(snap.name)
    return snap
