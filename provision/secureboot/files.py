"""The distribution's signed boot files, found on the server.

The Secure Boot chain on a machine with Microsoft's keys: shim (signed by Microsoft) → a
second stage shim trusts (GRUB signed by Debian: Debian's CA is built into Debian's shim; or
GRUB signed by our own key, enrolled in MOK or db) → a kernel the same keys verify.

    shim       Debian: shim-signed          /usr/lib/shim/shimx64.efi.signed
               Gentoo: sys-boot/shim        /usr/share/shim/BOOTX64.EFI
    MokManager Debian: shim-signed (dep.)   /usr/lib/shim/mmx64.efi.signed
               Gentoo: sys-boot/shim        /usr/share/shim/mmx64.efi
    GRUB       Debian: grub-efi-amd64-signed /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
    (network)                                .../grubnetx64.efi.signed (TFTP only, no HTTP)

Only Debian's packages give a GRUB that Debian's shim accepts without enrolling anything, so
the live media's chain needs them; installed systems get a GRUB the server signs
(provision.secureboot.grub) and only need shim.  `PROVISION_SECUREBOOT_PATH` (colon-separated
directories, searched first) finds the files elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError
from provision.secureboot import pe

ENV_PATH = "PROVISION_SECUREBOOT_PATH"


@dataclass(frozen=True)
class SignedFile:
    """One signed boot file: where distributions put it and which package has it."""

    name: str  # its name on the boot medium (shim loads grubx64.efi from its own directory)
    candidates: tuple[str, ...]
    debian: str
    gentoo: str


SHIM = SignedFile(
    "shimx64.efi",
    ("/usr/lib/shim/shimx64.efi.signed", "/usr/share/shim/BOOTX64.EFI"),
    "shim-signed",
    "sys-boot/shim",
)
MOKMANAGER = SignedFile(
    "mmx64.efi",
    ("/usr/lib/shim/mmx64.efi.signed", "/usr/share/shim/mmx64.efi"),
    "shim-signed",
    "sys-boot/shim",
)
GRUB_DISK = SignedFile(
    "grubx64.efi",
    ("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",),
    "grub-efi-amd64-signed",
    "(none: no distribution-signed GRUB on Gentoo; use a Debian server for live media)",
)
GRUB_NET = SignedFile(
    "grubx64.efi",
    ("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",),
    "grub-efi-amd64-signed",
    "(none: no distribution-signed GRUB on Gentoo)",
)


def find(wanted: SignedFile) -> Path:
    """The file on this server; ConfigError naming the package when it is missing."""
    extra = [p for p in os.environ.get(ENV_PATH, "").split(":") if p]
    names = {Path(c).name for c in wanted.candidates}
    candidates = [Path(d) / n for d in extra for n in sorted(names)]
    candidates += [Path(c) for c in wanted.candidates]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        wanted.name,
        f"signed file not found (looked at {', '.join(map(str, candidates))}; "
        f"Debian: apt install {wanted.debian}; Gentoo: {wanted.gentoo})",
    )


def require_signed(path: Path, what: str) -> None:
    """ConfigError unless the image carries at least one Authenticode signature."""
    try:
        count = pe.file_signatures(path)
    except pe.PeError as exc:
        raise ConfigError(str(path), f"{what}: {exc}") from exc
    if count == 0:
        raise ConfigError(
            str(path), f"{what} carries no signature: Secure Boot firmware would refuse it"
        )


@dataclass(frozen=True)
class LiveChain:
    """What live media need for Secure Boot: shim, MokManager, Debian's signed GRUB."""

    shim: Path
    mokmanager: Path
    grub: Path


def live_chain(network: bool = False) -> LiveChain:
    return LiveChain(find(SHIM), find(MOKMANAGER), find(GRUB_NET if network else GRUB_DISK))
