"""A Debian base root for the live environment: debootstrap --variant=minbase, slimmed, cached.

The base carries Python, the disk tools, GRUB's BIOS and UEFI parts, GnuPG and busybox
(udhcpc); the project itself is added on top at each build (provision.live.build).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import atomic_output
from provision.run import run

SUITE = "bookworm"
PACKAGES = (
    "python3",
    "fdisk",
    "e2fsprogs",
    "dosfstools",
    "util-linux",
    "mount",
    "grub2-common",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "gnupg",
    "zstd",
    "xz-utils",
    "busybox",
    "kmod",
    "ca-certificates",
)
# Dropped from the base: documentation, locales, apt's state, caches.
SLIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/i18n",
    "usr/share/zoneinfo",
    "usr/share/lintian",
    "usr/share/common-licenses",
    "var/cache/apt",
    "var/cache/debconf",
    "var/lib/apt/lists",
    "var/log",
    "usr/lib/x86_64-linux-gnu/gconv",
)
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def debian_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The Debian mirror this machine's apt uses (deb822 URIs: or a one-line deb entry)."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for url in re.findall(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text):
            if url.rstrip("/").endswith("/debian"):
                return str(url)
    raise ConfigError(str(sources[0]), "no Debian mirror found (pass --mirror URL)")


def debootstrap_argv(root: Path, mirror: str, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        SUITE,
        str(root),
        mirror,
    ]


def recipe_id(packages: tuple[str, ...] = PACKAGES) -> str:
    text = "\n".join([SUITE, *packages, *SLIM, "r1"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def slim(root: Path) -> None:
    for rel in SLIM:
        shutil.rmtree(root / rel, ignore_errors=True)
    (root / "var/log").mkdir(parents=True, exist_ok=True)


def cached_tarball(out: Path, make: Callable[[Path], None]) -> Path:
    """out (a zstd root-file-system tarball), made once by make(empty_root); concurrent
    callers wait on a lock beside it and reuse the result."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        work = out.parent / f"work-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        root = work / "root"
        try:
            make(root)
            with atomic_output(out) as tmp:
                run(["tar", "-C", root, "--numeric-owner", "-I", "zstd -T0", "-cf", tmp, "."])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


def debian_base(cache: Path, mirror: str = "") -> Path:
    """The cached base tarball (made once per recipe; concurrent builds wait for one)."""

    def make(root: Path) -> None:
        run(debootstrap_argv(root, mirror or debian_mirror()), timeout=1800)
        slim(root)

    return cached_tarball(cache / f"live-base-{SUITE}-{recipe_id()}.tar.zst", make)
