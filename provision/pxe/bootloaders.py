"""Find the distribution's network bootloaders (iPXE, pxelinux) through a search path.

Nothing is built here: iPXE and syslinux come from the distribution's packages.  The default
search path covers Debian (ipxe, pxelinux, syslinux-common) and Gentoo (sys-firmware/ipxe,
sys-boot/syslinux); `PROVISION_BOOTLOADER_PATH` (colon-separated) or the `search` argument
replaces it.  A missing file is an error that names the package to install.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provision.errors import ConfigError

ENV_PATH = "PROVISION_BOOTLOADER_PATH"

DEFAULT_SEARCH: tuple[str, ...] = (
    "/usr/lib/ipxe",  # Debian: ipxe
    "/boot",  # Debian: ipxe (ipxe.efi)
    "/usr/share/ipxe",  # Gentoo: sys-firmware/ipxe
    "/usr/lib/PXELINUX",  # Debian: pxelinux
    "/usr/lib/syslinux/modules/bios",  # Debian: syslinux-common (ldlinux.c32, ...)
    "/usr/share/syslinux",  # Gentoo: sys-boot/syslinux
    "/usr/lib/syslinux",  # other distributions
)


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"


@dataclass(frozen=True)
class Loader:
    """One bootloader file: the names it may have on disk and the packages that carry it."""

    name: str  # the name in the TFTP root
    candidates: tuple[str, ...]  # file names to look for, in order of preference
    debian: str
    gentoo: str


IPXE_BIOS = Loader("undionly.kpxe", ("undionly.kpxe",), "ipxe", "sys-firmware/ipxe")
IPXE_UEFI = Loader("ipxe.efi", ("ipxe.efi",), "ipxe", "sys-firmware/ipxe[efi]")
IPXE_SNP = Loader("snponly.efi", ("snponly.efi",), "ipxe", "sys-firmware/ipxe[efi]")
PXELINUX = Loader("pxelinux.0", ("pxelinux.0", "lpxelinux.0"), "pxelinux", "sys-boot/syslinux")
LDLINUX = Loader("ldlinux.c32", ("ldlinux.c32",), "syslinux-common", "sys-boot/syslinux")

# The UEFI flavours of iPXE: ipxe.efi has its own NIC drivers, snponly.efi uses the firmware's.
UEFI_LOADERS = {"ipxe.efi": IPXE_UEFI, "snponly.efi": IPXE_SNP}


def search_path(search: Sequence[str] | None = None) -> tuple[Path, ...]:
    """The directories to look in: `search`, else $PROVISION_BOOTLOADER_PATH, else defaults."""
    if search is None:
        env = os.environ.get(ENV_PATH, "")
        search = [p for p in env.split(":") if p] or list(DEFAULT_SEARCH)
    return tuple(Path(p) for p in search)


def find(loader: Loader, search: Sequence[str] | None = None) -> Path:
    """The first file of `loader` found on the search path; ConfigError naming the package."""
    dirs = search_path(search)
    for candidate in loader.candidates:
        for directory in dirs:
            path = directory / candidate
            if path.is_file():
                return path
    raise ConfigError(
        loader.name,
        f"not found in {':'.join(str(d) for d in dirs)} "
        f"(install it: Debian: apt install {loader.debian}; Gentoo: emerge {loader.gentoo})",
    )


@dataclass(frozen=True)
class Found:
    """The bootloader files for a TFTP root: BIOS iPXE, UEFI iPXE, optional pxelinux."""

    bios: Path
    uefi: Path
    uefi_name: str  # ipxe.efi or snponly.efi
    pxelinux: Path | None = None
    ldlinux: Path | None = None


def find_all(
    search: Sequence[str] | None = None, *, uefi: str = "ipxe.efi", pxelinux: bool = False
) -> Found:
    """Look up every loader a TFTP root needs (pxelinux only if asked for)."""
    if uefi not in UEFI_LOADERS:
        raise ConfigError("uefi loader", f"{uefi!r} is not one of {', '.join(UEFI_LOADERS)}")
    return Found(
        bios=find(IPXE_BIOS, search),
        uefi=find(UEFI_LOADERS[uefi], search),
        uefi_name=uefi,
        pxelinux=find(PXELINUX, search) if pxelinux else None,
        ldlinux=find(LDLINUX, search) if pxelinux else None,
    )
