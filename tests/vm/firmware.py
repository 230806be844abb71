"""Firmware recipes for VM tests: OVMF with Secure Boot enforced, UEFI HTTP boot, enrolled keys.

    argv = [*qemu(name, memory), *ovmf(vars_copy, secure_boot=True), *cdrom(iso)]
    vars_with_cert(cert_pem, out)            # OVMF_VARS_4M.ms.fd + our cert in db (virt-fw-vars)
    info = uefi_boot(console)                # the marker's efivar lines → BootInfo

Secure Boot: q35 with SMM, the secure pflash, OVMF_CODE_4M.secboot.fd and a copy of
OVMF_VARS_4M.ms.fd (Microsoft's keys enrolled, Secure Boot on).  HTTP boot: the NIC without
its option ROM (OVMF's own network stack) and OVMF's PXE turned off (fw_cfg), so the HTTPv4
entry is tried first instead of after two PXE timeouts (~95 s).
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

from provision.hosts import BootInfo
from provision.install.bootinfo import from_uefi
from provision.live.initramfs import MARKER
from provision.run import run

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
OVMF_SB_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_MS_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")  # Microsoft's keys, Secure Boot on
VIRT_FW_VARS = Path(sys.executable).parent / "virt-fw-vars"  # PyPI virt-firmware


def qemu(name: str, memory: int = 768) -> list[str]:
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-nographic", "-no-reboot",
        "-nodefaults", "-serial", "stdio", "-monitor", "none", "-vga", "std", "-name", name,
    ]  # fmt: skip


def ovmf(vars_file: Path, *, secure_boot: bool, template: Path | None = None) -> list[str]:
    """OVMF, with Secure Boot enforced or without; vars_file is made from the template once."""
    if not vars_file.exists():
        shutil.copyfile(template or (OVMF_MS_VARS if secure_boot else OVMF_VARS), vars_file)
    if not secure_boot:
        return [
            "-machine", "q35",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_file}",
        ]  # fmt: skip
    return [
        "-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_SB_CODE}",
        "-drive", f"if=pflash,format=raw,unit=1,file={vars_file}",
    ]  # fmt: skip


def http_boot_first() -> list[str]:
    """OVMF without its PXE boot entries: UEFI HTTPv4 is the network entry it tries."""
    return [
        "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
        "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
    ]  # fmt: skip


def nic(tap: str, mac: str, *, rom: bool, bootindex: int | None = 1) -> list[str]:
    """A virtio NIC on a lab tap; rom=False: no iPXE option ROM (the firmware's own stack)."""
    device = f"virtio-net-pci,netdev=n0,mac={mac}"
    if bootindex is not None:
        device += f",bootindex={bootindex}"
    if not rom:
        device += ",romfile="
    return ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no", "-device", device]


def cdrom(image: Path) -> list[str]:
    return [
        "-drive", f"file={image},format=raw,if=none,id=cd,media=cdrom,readonly=on",
        "-device", "ide-cd,drive=cd,bootindex=0",
    ]  # fmt: skip


def usb(image: Path) -> list[str]:
    return [
        "-drive", f"file={image},format=raw,if=none,id=usb,readonly=on",
        "-device", "usb-ehci", "-device", "usb-storage,drive=usb,bootindex=0",
    ]  # fmt: skip


def disk(image: Path, bootindex: int = 0) -> list[str]:
    return [
        "-drive", f"file={image},format=raw,if=none,id=d0",
        "-device", f"virtio-blk-pci,drive=d0,bootindex={bootindex}",
    ]  # fmt: skip


def vars_with_cert(cert: Path, out: Path, *, mok: bool = False) -> Path:
    """Microsoft's OVMF vars plus our certificate in db (or in shim's MokList)."""
    owner = str(uuid.uuid4())
    option = "--add-mok" if mok else "--add-db"
    run([str(VIRT_FW_VARS), "-i", str(OVMF_MS_VARS), option, owner, str(cert), "-o", str(out)])
    return out


def marker_lines(console: str, marker: str = MARKER) -> list[str]:
    return [ln.strip() for ln in console.splitlines() if ln.strip().startswith(marker)]


def uefi_boot(console: str, marker: str = MARKER) -> BootInfo:
    """What the marker system read from the firmware (efivar lines) as a BootInfo."""
    values: dict[str, bytes] = {}
    for line in marker_lines(console, marker):
        words = line.split()
        if len(words) == 4 and words[1] == "efivar":
            values[words[2]] = bytes.fromhex(words[3])
    option = next(v for k, v in values.items() if k.startswith("Boot") and k != "BootCurrent")
    return from_uefi(values["BootCurrent"], option, values.get("SecureBoot"))
