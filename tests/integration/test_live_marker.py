"""The marker initramfs boots the distribution kernel in QEMU (direct kernel boot, TCG)."""

from __future__ import annotations

from pathlib import Path

from provision.live.initramfs import MARKER, make_marker_bootkit
from provision.run import run


def test_marker_initramfs_boots(tmp_path: Path) -> None:
    kernel, initrd = make_marker_bootkit(tmp_path)
    res = run(
        [
            "qemu-system-x86_64",
            "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-nodefaults",
            "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 panic=-1 quiet provision.profile=desktop-amd64",
        ],
        timeout=180,
    )  # fmt: skip
    assert f"{MARKER} provision.profile=desktop-amd64" in res.stdout
    assert f"{MARKER} done" in res.stdout
