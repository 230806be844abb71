"""The demo's data dir settings (written only where the data dir has none of its own).

server.toml: a random secret key, the demo-only admin password, the base URL it serves on and
the name its demo machine reaches it by (QEMU user networking, provision.demo.vm).
build.toml: vm-amd64 built the way production builds, in a `stage` root — the stage tarball is
a Debian-made stand-in for a Gentoo stage3 (provision.live.standin) — the other profiles in
prefix roots, and the files of the vm-amd64 kernel package (this machine's own kernel).
"""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path

from provision.fsutil import write_atomic
from provision.server.auth import hash_password
from provision.server.settings import CONFIG_NAME

DEMO_PASSWORD = "provision-demo"
STAGE_PROFILE = "vm-amd64"  # the demo's installable profile (stage root, system image, stage)
GUEST_SERVER = "10.0.2.100"  # the server's address on the demo machine's network
KERNEL_DISTFILES = """[distfiles."sys-kernel/demo-kernel-bin"]
"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"
"demo-kernel-bin-6.1.0.initrd" = "/boot/initrd.img-*"
"""
# what `provision demo` wrote before it built a stage root (replaced by the new one)
OLD_BUILD_TOML = (
    "# provision demo: the vm-amd64 profile's prebuilt kernel is this machine's own\n"
    + KERNEL_DISTFILES
)


def build_toml(stage: Path) -> str:
    """Pure: the demo's build.toml for a stand-in stage tarball."""
    return (
        f"# provision demo: {STAGE_PROFILE} builds the way production does, in a stage root.\n"
        "# The stage tarball is a Debian-made stand-in for a Gentoo stage3 (debootstrap +\n"
        "# Portage from PyPI); on a Gentoo server, put a real stage3 here.\n"
        f"[profile.{STAGE_PROFILE}]\n"
        'root = "stage"\n'
        f"stage = {_toml_string(str(stage))}\n\n"
        "# the vm-amd64 kernel package's files: this machine's own kernel and initrd\n"
        + KERNEL_DISTFILES
    )


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_build_settings(data_dir: Path, stage: Path) -> bool:
    """build.toml for the demo, unless the data dir has its own; True when written."""
    path = data_dir / "build.toml"
    if path.exists() and path.read_text() not in (OLD_BUILD_TOML, build_toml(stage)):
        return False
    write_atomic(path, build_toml(stage))
    return True


def server_toml(text: str, base_url: str, secret_key: str, password_hash: str) -> str:
    """Pure: server.toml text with the demo's settings added where missing (top-level keys go
    first, before any table; the admin's own keys and comments stay)."""
    current = tomllib.loads(text) if text else {}
    lines = []
    for key, value in (
        ("secret_key", secret_key),
        ("admin_password_hash", password_hash),
        ("base_url", base_url),
    ):
        if key not in current:
            lines.append(f"{key} = {_toml_string(value)}")
    if "server_names" not in current:
        lines.append(
            f"# the demo machine (QEMU user networking) reaches the server as {GUEST_SERVER}"
        )
        lines.append(f"server_names = [{_toml_string(GUEST_SERVER)}]")
    return "\n".join([*lines, *text.splitlines()]) + "\n"


def write_server_settings(data_dir: Path, base_url: str) -> None:
    """The demo's server.toml: a random secret key, the demo admin password, base_url and the
    demo machine's name for the server, each unless server.toml has its own."""
    path = data_dir / CONFIG_NAME
    text = path.read_text() if path.is_file() else ""
    new = server_toml(text, base_url, secrets.token_urlsafe(32), hash_password(DEMO_PASSWORD))
    tomllib.loads(new)  # a slip here must not leave a server.toml the server cannot read
    if new != text:
        write_atomic(path, new, mode=0o600)
