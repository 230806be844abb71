"""The signed boot chain of a secure_boot install (the bootloader step's UEFI variant).

On the ESP, as a removable-media path every UEFI firmware boots without a boot entry:

    EFI/BOOT/BOOTX64.EFI      shim, signed by Microsoft (firmware with Microsoft's keys runs it)
    EFI/BOOT/grubx64.efi      GRUB signed with the server's Secure Boot key (shim verifies it
                              against the firmware's db and its MOK list)
    EFI/BOOT/mmx64.efi        MokManager: shim starts it to enrol a key at the console
    EFI/BOOT/grub.cfg         finds /boot by its file-system UUID, reads /boot/grub/grub.cfg
    EFI/BOOT/provision-db.der the server's certificate ("Enroll key from disk" in MokManager)

The kernel must carry the server's signature (the builder signs kernel packages of secure_boot
profiles, USE=secureboot): GRUB hands it to shim's verifier.  An unsigned kernel is refused
here, before the machine would refuse it at its first boot.  The files come from the server,
each checked against the SHA-256 in the host's config document.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from provision.errors import InstallError
from provision.fsutil import write_atomic
from provision.install.context import InstallContext
from provision.install.fetch import get_bytes
from provision.install.plan import PartitionPlan
from provision.install.steps.kernel import kernel_images
from provision.profiles.model import Firmware
from provision.secureboot import pe
from provision.secureboot.grub import esp_config

# name on the ESP (EFI/BOOT/...) → name on the server (/boot/secureboot/...)
ESP_FILES = {
    "BOOTX64.EFI": "shimx64.efi",
    "grubx64.efi": "grubx64.efi",
    "mmx64.efi": "mmx64.efi",
    "provision-db.der": "provision-db.der",
}
ENROL_COPY = "/etc/provision/secureboot/provision-db.der"  # for mokutil --import later


def boot_prefix(plan: PartitionPlan) -> str:
    """Where grub.cfg is on the file system that holds /boot."""
    return "/grub" if plan.by_mountpoint("/boot") is not None else "/boot/grub"


def _signed(image: Path) -> bool:
    try:
        return pe.file_signatures(image) > 0
    except pe.PeError:
        return False  # not even a PE image: no EFI stub, firmware and GRUB would refuse it


def describe(ctx: InstallContext) -> list[str]:
    esp = ctx.plan.esp
    where = ctx.path(esp.mountpoint if esp else "/boot/efi") / "EFI" / "BOOT"
    files = ", ".join(ESP_FILES)
    return [f"Secure Boot: write {files}, grub.cfg to {where} (shim → signed GRUB → kernel)"]


def apply(ctx: InstallContext) -> None:
    sb = ctx.config.secure_boot
    if ctx.plan.firmware is not Firmware.UEFI or ctx.plan.esp is None:
        raise InstallError("the profile has secure_boot = true: that needs a UEFI machine")
    if sb is None:
        raise InstallError("secure_boot profile, but the server sent no Secure Boot files")
    unsigned = [p.name for p in kernel_images(ctx.path("/boot")) if not _signed(p)]
    if unsigned:
        raise InstallError(
            f"kernel {', '.join(unsigned)} is not signed: Secure Boot would refuse it (the "
            "profile's kernel package must be built with USE=secureboot and the server's key)"
        )
    esp_boot = ctx.path(ctx.plan.esp.mountpoint) / "EFI" / "BOOT"
    for on_esp, name in ESP_FILES.items():
        data = get_bytes(sb.url + name, limit=32 << 20)
        digest = hashlib.sha256(data).hexdigest()
        if digest != sb.sha256[name]:
            raise InstallError(f"{sb.url}{name}: SHA-256 {digest} is not the one the server named")
        write_atomic(esp_boot / on_esp, data)
        ctx.note(f"secure boot: {esp_boot / on_esp} ({len(data)} bytes, sha256 {digest})")
        if name == "provision-db.der":
            write_atomic(ctx.path(ENROL_COPY), data)
    boot = ctx.plan.by_mountpoint("/boot") or ctx.plan.by_mountpoint("/")
    assert boot is not None
    uuid = ctx.read_uuids()[boot.number]
    write_atomic(esp_boot / "grub.cfg", esp_config(uuid, boot_prefix(ctx.plan)))
