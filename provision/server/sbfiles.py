"""The files a Secure Boot install puts on its ESP, as the server offers them.

    shimx64.efi       the distribution's Microsoft-signed shim (EFI/BOOT/BOOTX64.EFI)
    mmx64.efi         MokManager (enrols our certificate from the ESP at the console)
    grubx64.efi       GRUB signed with the server's Secure Boot key (provision.secureboot.grub)
    provision-db.der  the certificate to enrol (also provision-db.crt, PEM)

All are public (signed binaries, a certificate); an installing host gets their SHA-256 in its
config document and checks what it downloads.  The key is made on first use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from provision.errors import ConfigError
from provision.secureboot import files as signed_files
from provision.secureboot import grub as signed_grub
from provision.secureboot import key as sbkey

NAMES = ("shimx64.efi", "mmx64.efi", "grubx64.efi", "provision-db.der", "provision-db.crt")


def path_of(data_dir: Path, name: str) -> Path:
    """The file behind a name of NAMES; ConfigError when it cannot be had (names what)."""
    if name == "shimx64.efi":
        return signed_files.find(signed_files.SHIM)
    if name == "mmx64.efi":
        return signed_files.find(signed_files.MOKMANAGER)
    if name not in NAMES:
        raise ConfigError(name, f"not a Secure Boot file (one of {', '.join(NAMES)})")
    made = sbkey.ensure(data_dir / "keys")
    if name == "grubx64.efi":
        return signed_grub.signed_grub(data_dir / "cache" / "secureboot", made)
    return made.der if name.endswith(".der") else made.cert


def digests(data_dir: Path, names: tuple[str, ...]) -> dict[str, str]:
    """SHA-256 (hex) of each named file."""
    return {n: hashlib.sha256(path_of(data_dir, n).read_bytes()).hexdigest() for n in names}
