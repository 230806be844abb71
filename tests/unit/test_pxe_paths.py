"""TFTP path confinement (pure part and the symlink check)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provision.pxe.paths import PathRefused, clean_path, resolve_in_root


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        pytest.param("undionly.kpxe", "undionly.kpxe", id="plain"),
        pytest.param("pxelinux.cfg/default", "pxelinux.cfg/default", id="subdir"),
        pytest.param("./a//b/./c", "a/b/c", id="dots-and-double-slashes"),
        pytest.param("a..b", "a..b", id="dots-inside-a-name"),
        # GRUB asks for /grub/grub.cfg: a leading / is the TFTP root (tftpd-hpa -s, dnsmasq)
        pytest.param("/grub/grub.cfg", "grub/grub.cfg", id="root-relative"),
        pytest.param("/etc/passwd", "etc/passwd", id="absolute-is-inside-the-root"),
    ],
)
def test_clean_path(requested: str, expected: str) -> None:
    assert clean_path(requested) == expected


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        pytest.param("../etc/passwd", "'..' is not allowed", id="parent"),
        pytest.param("a/../../x", "'..' is not allowed", id="parent-inside"),
        pytest.param("a/..", "'..' is not allowed", id="parent-at-end"),
        pytest.param("..\\..\\x", "'..' is not allowed", id="backslash-parent"),
        pytest.param("/../etc/passwd", "'..' is not allowed", id="root-parent"),
        pytest.param("\\windows\\x", "absolute paths", id="absolute-backslash"),
        pytest.param("C:x", "absolute paths", id="drive-letter"),
        pytest.param("", "empty file name", id="empty"),
        pytest.param("a\0b", "NUL byte", id="nul"),
        pytest.param("./", "names a directory", id="root-itself"),
    ],
)
def test_refused(requested: str, reason: str) -> None:
    with pytest.raises(PathRefused, match=reason):
        clean_path(requested)


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_text("x")
    (tmp_path / "secret").write_text("s")
    os.symlink("sub/file", root / "inside")
    os.symlink("../secret", root / "outside")
    os.symlink(str(tmp_path), root / "sub" / "up")
    real = root.resolve()
    assert resolve_in_root(real, "inside") == real / "sub" / "file"
    for name in ("outside", "sub/up/secret"):
        with pytest.raises(PathRefused, match="leads out of the TFTP root"):
            resolve_in_root(real, name)
