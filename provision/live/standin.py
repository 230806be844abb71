"""A Debian-made stand-in for a Gentoo stage3: what the demo and the tests build and install
from on machines that have no Gentoo stage3 and no ::gentoo tree.

debootstrap (minbase) with a compiler, GnuPG and the tools Portage calls, plus Portage from
PyPI in /usr/local — made once and cached as a zstd tarball (provision.live.debian
.cached_tarball).  The builder treats it exactly as a stage3 (`root = "stage"`), and the
installer unpacks it as the install stage.  It is not Gentoo: no @system of ::gentoo, no
Gentoo toolchain; README says what this does and does not prove.
"""

from __future__ import annotations

import sys
from pathlib import Path

from provision.live.debian import SUITE, cached_tarball, debian_mirror
from provision.run import run

PORTAGE_VERSION = "3.0.83"  # the pin of pyproject.toml
RECIPE = "r3"  # bump when the recipe below changes (a new cached tarball is made)
# sbsigntool: secureboot.eclass signs kernels with sbsign (Gentoo: app-crypt/sbsigntools)
PACKAGES = (
    *("python3", "gcc", "libc6-dev", "gnupg", "pax-utils", "zstd", "xz-utils", "bzip2"),
    "sbsigntool",
)
SITE = "/usr/local/lib/python3.11/site-packages"
DESCRIPTION = "a Debian-made stand-in for a Gentoo stage3 (debootstrap minbase + Portage from PyPI)"


def standin_name() -> str:
    return f"rootfs-{SUITE}-portage-{PORTAGE_VERSION}-{RECIPE}.tar.zst"


def debootstrap_argv(root: Path, mirror: str) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(root),
        mirror,
    ]


def pip_argv(root: Path) -> list[str]:
    """PyPI Portage into /usr/local of the root (the running Python's pip, --root)."""
    return [
        sys.executable, "-m", "pip", "install", "-q", "--ignore-installed", "--no-deps",
        "--no-warn-script-location", "--root", str(root), "--prefix", "/usr/local",
        f"portage=={PORTAGE_VERSION}",
    ]  # fmt: skip


def standin_stage(cache: Path, mirror: str = "") -> Path:
    """The stand-in stage tarball in cache (made on first use; concurrent callers share it)."""

    def make(root: Path) -> None:
        run(debootstrap_argv(root, mirror or debian_mirror()), timeout=1800)
        install_portage(root)

    return cached_tarball(cache / standin_name(), make)


def install_portage(root: Path) -> None:
    """Portage from PyPI in /usr/local of a Debian root, laid out as a Gentoo stage has it."""
    run(pip_argv(root), timeout=900)
    (root / "usr/lib/python3/dist-packages/portage-pypi.pth").write_text(SITE + "\n")
    for script in (root / "usr/local/bin").iterdir():
        head = script.read_bytes()[:200]
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            body = script.read_bytes().split(b"\n", 1)[1]
            script.write_bytes(b"#!/usr/bin/python3\n" + body)
    # The PyPI Portage looks for its global config in /share/portage (and /usr/share/portage),
    # and for its helpers in sys.prefix/lib/portage (/usr/lib/portage).
    for link, target in (
        (root / "share/portage", "/usr/local/share/portage"),
        (root / "usr/share/portage", "/usr/local/share/portage"),
        (root / "usr/lib/portage", "/usr/local/lib/portage"),
    ):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    with open(root / "etc/passwd", "a") as fh:
        fh.write("portage:x:250:250:portage:/var/tmp/portage:/bin/false\n")
    with open(root / "etc/group", "a") as fh:
        fh.write("portage::250:portage\n")
