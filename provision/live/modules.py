"""Kernel modules for the live environment: the drivers a machine needs to see its disks and
network and to mount the filesystems the installer makes, with their dependencies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# Module names ('-' and '_' are the same to modprobe).  Built-in ones are simply not found.
WANTED = (
    # storage
    "virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "sr_mod", "ahci", "ata_piix",
    "nvme", "mptspi", "vmw_pvscsi", "hv_storvsc", "usb_storage", "uas", "xhci_pci",
    "ehci_pci", "uhci_hcd", "ohci_pci", "mmc_block", "sdhci_pci", "loop",
    # network
    "virtio_net", "e1000", "e1000e", "igb", "ixgbe", "r8169", "tg3", "bnx2", "vmxnet3",
    "hv_netvsc", "8139cp", "pcnet32", "ne2k_pci", "af_packet",
    # filesystems
    "ext4", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "nls_ascii", "xfs", "btrfs",
    "efivarfs",
    "isofs",
    # checksums the filesystems load by name (ext4, xfs, btrfs: crc32c)
    "crc32c_generic", "crc32c_intel", "libcrc32c",
)  # fmt: skip
MODULE_SUFFIX = re.compile(r"\.ko(\.xz|\.zst|\.gz)?$")


def module_name(path: str) -> str:
    return MODULE_SUFFIX.sub("", path.rsplit("/", 1)[-1]).replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """modules.dep → {name: (path, [dependency paths])} (pure)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        path, sep, deps = line.partition(":")
        if sep:
            out[module_name(path)] = (path.strip(), deps.split())
    return out


def resolve(dep_text: str, wanted: Iterable[str] = WANTED) -> tuple[list[str], list[str]]:
    """The module files to ship (the wanted ones and their dependencies) and the wanted names
    that were found (to load at boot), both sorted (pure)."""
    table = parse_modules_dep(dep_text)
    by_path = {path: deps for path, deps in table.values()}
    files: set[str] = set()
    found = []
    for name in wanted:
        entry = table.get(name.replace("-", "_"))
        if entry is None:
            continue
        found.append(name)
        stack = [entry[0]]
        while stack:
            path = stack.pop()
            if path not in files:
                files.add(path)
                stack += by_path.get(path, [])
    return sorted(files), sorted(found)


def modules_dir_for(kernel: Path, base: Path = Path("/lib/modules")) -> Path:
    """/lib/modules/<version> for /boot/vmlinuz-<version>."""
    version = kernel.name.split("-", 1)[1] if "-" in kernel.name else ""
    return base / version
