"""Partition plan: a pure function of the layout, the disk size and the firmware.

UEFI → an EFI system partition (the layout's vfat /boot, /boot/efi or /efi, else one is added
at /boot/efi).  BIOS + GPT → a 1 MiB BIOS boot partition first (where GRUB's core.img lives);
BIOS + MBR → nothing extra, the partition holding /boot (or /) is marked bootable.
Everything is aligned to 1 MiB; the last MiB stays free for the GPT backup header.

Filesystem UUIDs and the table's disk id are derived from an install seed (host + profile +
disk), so a rerun after a power loss recognises its own partitions and filesystems.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from provision.errors import ConfigError, InstallError
from provision.profiles.model import DiskLayout, Filesystem, Firmware, Partition, PartitionTable

MIB = 1 << 20
ALIGN = MIB
ESP_SIZE = 512 * MIB
BIOS_BOOT_SIZE = 1 * MIB
MIN_REST = 64 * MIB  # the smallest "rest of the disk" partition accepted
ESP_MOUNTS = ("/boot/efi", "/efi", "/boot")


class PartitionRole(StrEnum):
    ESP = "esp"  # EFI system partition
    BIOS = "bios"  # BIOS boot partition (GRUB's core.img on GPT)
    SWAP = "swap"
    ROOT = "root"
    LINUX = "linux"  # any other Linux filesystem


GPT_TYPES = {
    "esp": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "bios": "21686148-6449-6E6F-744E-656564454649",
    "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
    "root": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",  # x86-64 root (systemd DPS)
    "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
}
MBR_TYPES = {"esp": "ef", "swap": "82", "root": "83", "linux": "83"}
SEED_NS = uuid.UUID("5a4c1d8e-52b8-4f55-9d0e-6f70726f7669")


@dataclass(frozen=True)
class PlannedPartition:
    number: int
    start: int  # bytes
    size: int  # bytes
    role: PartitionRole
    filesystem: Filesystem | None  # None: the BIOS boot partition
    mountpoint: str = ""
    label: str = ""
    uuid: str = ""  # the filesystem UUID mkfs is told to use ("" for bios boot)
    bootable: bool = False  # MBR active flag

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class PartitionPlan:
    devnode: str
    disk_size: int
    sector_size: int
    firmware: Firmware  # resolved: bios | uefi
    table: PartitionTable
    disk_id: str  # GPT label-id (a UUID) or MBR disk id (0x + 8 hex)
    partitions: tuple[PlannedPartition, ...]

    def by_mountpoint(self, mountpoint: str) -> PlannedPartition | None:
        return next((p for p in self.partitions if p.mountpoint == mountpoint), None)

    @property
    def esp(self) -> PlannedPartition | None:
        return next((p for p in self.partitions if p.role is PartitionRole.ESP), None)

    @property
    def mounts(self) -> list[PlannedPartition]:
        """Partitions to mount, parents before children (/ before /boot before /boot/efi)."""
        fs = [p for p in self.partitions if p.mountpoint.startswith("/")]
        return sorted(fs, key=lambda p: (p.mountpoint.rstrip("/").count("/"), p.mountpoint))


def resolve_firmware(firmware: Firmware, efi_present: bool) -> Firmware:
    if firmware is Firmware.AUTO:
        return Firmware.UEFI if efi_present else Firmware.BIOS
    return firmware


def derived_uuid(seed: str, what: str) -> str:
    return str(uuid.uuid5(SEED_NS, f"{seed}/{what}"))


def _default_partitions(layout: DiskLayout) -> tuple[Partition, ...]:
    return layout.partitions or (Partition(mountpoint="/", size=None, filesystem=Filesystem.EXT4),)


def _role(part: Partition, firmware: Firmware) -> PartitionRole:
    if part.filesystem is Filesystem.SWAP:
        return PartitionRole.SWAP
    if (
        firmware is Firmware.UEFI
        and part.filesystem is Filesystem.VFAT
        and part.mountpoint in ESP_MOUNTS
    ):
        return PartitionRole.ESP
    return PartitionRole.ROOT if part.mountpoint == "/" else PartitionRole.LINUX


def plan_partitions(
    layout: DiskLayout,
    *,
    devnode: str,
    disk_size: int,
    firmware: Firmware,
    seed: str,
    sector_size: int = 512,
) -> PartitionPlan:
    """The partitions for a disk (pure).  InstallError if the layout does not fit."""
    if firmware is Firmware.AUTO:
        raise ValueError("resolve the firmware first (resolve_firmware)")
    table = PartitionTable(layout.table)
    declared = list(_default_partitions(layout))
    rest = [p for p in declared if p.size is None]
    if len(rest) > 1 or (rest and declared[-1].size is not None):
        raise ConfigError(
            "disk.partitions", "only the last partition may take the rest of the disk"
        )
    mounts = [p.mountpoint for p in declared if p.mountpoint]
    if "/" not in mounts:
        raise ConfigError("disk.partitions", 'the layout has no root (mountpoint = "/")')
    if len(set(mounts)) != len(mounts):
        raise ConfigError("disk.partitions", "a mountpoint appears twice")
    roles = [_role(p, firmware) for p in declared]
    entries: list[tuple[PartitionRole, Partition]] = []
    if firmware is Firmware.BIOS and table is PartitionTable.GPT:
        bios = Partition(mountpoint="", size=BIOS_BOOT_SIZE, filesystem=None)
        entries.append((PartitionRole.BIOS, bios))
    if firmware is Firmware.UEFI and PartitionRole.ESP not in roles:
        esp = Partition("/boot/efi", size=ESP_SIZE, filesystem=Filesystem.VFAT, label="EFI")
        entries.append((PartitionRole.ESP, esp))
    fixed = [(r, p) for r, p in zip(roles, declared, strict=True) if p.size is not None]
    entries += fixed
    if layout.swap:
        swap = Partition("", size=layout.swap, filesystem=Filesystem.SWAP, label="swap")
        entries.append((PartitionRole.SWAP, swap))
    entries += [(r, p) for r, p in zip(roles, declared, strict=True) if p.size is None]
    if table is PartitionTable.MBR and len(entries) > 4:
        raise ConfigError(
            "disk.partitions", f"{len(entries)} partitions: an MBR table holds 4 (use gpt)"
        )

    usable_end = (disk_size // ALIGN) * ALIGN - ALIGN  # keep the last MiB for the GPT backup
    needed = 2 * ALIGN + sum(_align_up(p.size or 0) for _, p in entries) + (MIN_REST if rest else 0)
    needed = max(needed, layout.min_size)
    if (disk_size // ALIGN) * ALIGN < needed:
        raise InstallError(
            f"{devnode} is too small: {disk_size} bytes, the layout needs {needed} bytes"
        )
    boot_mount = "/boot" if any(p.mountpoint == "/boot" for _, p in entries) else "/"
    planned: list[PlannedPartition] = []
    start = ALIGN
    for number, (role, part) in enumerate(entries, start=1):
        size = _align_up(part.size) if part.size is not None else usable_end - start
        fs = part.filesystem
        planned.append(
            PlannedPartition(
                number=number,
                start=start,
                size=size,
                role=role,
                filesystem=fs,
                mountpoint=part.mountpoint,
                label=part.label or _default_label(role, part.mountpoint),
                uuid=_fs_uuid(seed, number, fs),
                bootable=table is PartitionTable.MBR
                and firmware is Firmware.BIOS
                and part.mountpoint == boot_mount,
            )
        )
        start += size
    disk_id = own_disk_id(seed, table)
    return PartitionPlan(
        devnode=devnode,
        disk_size=disk_size,
        sector_size=sector_size,
        firmware=firmware,
        table=table,
        disk_id=disk_id,
        partitions=tuple(planned),
    )


def required_size(layout: DiskLayout, firmware: Firmware) -> int:
    """The smallest disk the layout fits on (pure)."""
    probe = plan_partitions(
        layout, devnode="probe", disk_size=1 << 60, firmware=firmware, seed="probe"
    )
    rest = any(p.size is None for p in _default_partitions(layout))
    fixed = sum(p.size for p in probe.partitions[: len(probe.partitions) - int(rest)])
    return max(layout.min_size, 2 * ALIGN + fixed + (MIN_REST if rest else 0))


def _align_up(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def own_disk_id(seed: str, table: PartitionTable) -> str:
    """The disk id an install with this seed writes (GPT: a UUID; MBR: 0x + 8 hex digits)."""
    disk_uuid = derived_uuid(seed, "disk")
    return (
        disk_uuid.upper() if table is PartitionTable.GPT else "0x" + disk_uuid.replace("-", "")[:8]
    )


def _default_label(role: PartitionRole, mountpoint: str) -> str:
    fixed = {PartitionRole.ESP: "EFI", PartitionRole.BIOS: "BIOS", PartitionRole.SWAP: "swap"}
    if role in fixed:
        return fixed[role]
    return "root" if mountpoint == "/" else mountpoint.strip("/").replace("/", "-")[:16]


def _fs_uuid(seed: str, number: int, filesystem: Filesystem | None) -> str:
    if filesystem is None:
        return ""
    value = derived_uuid(seed, f"fs{number}")
    if filesystem is Filesystem.VFAT:  # a FAT volume id: 8 hex digits, shown as XXXX-XXXX
        raw = value.replace("-", "")[:8].upper()
        return f"{raw[:4]}-{raw[4:]}"
    return value


def with_devnode(plan: PartitionPlan, devnode: str) -> PartitionPlan:
    return replace(plan, devnode=devnode)


# --- rendering (pure) ------------------------------------------------------------------------
def render_sfdisk(plan: PartitionPlan) -> str:
    """The sfdisk script that creates the plan's table (sizes in the disk's sectors)."""
    ss = plan.sector_size
    lines = [f"label: {plan.table.sfdisk_label}", f"label-id: {plan.disk_id}", "unit: sectors"]
    if plan.table is PartitionTable.GPT:
        lines.append(f"first-lba: {ALIGN // ss}")
    lines.append("")
    for p in plan.partitions:
        if plan.table is PartitionTable.GPT:
            ptype = GPT_TYPES[p.role]
            extra = f', name="{p.label}"' if p.label else ""
        else:
            ptype = MBR_TYPES.get(p.role, "83")
            extra = ", bootable" if p.bootable else ""
        lines.append(f"start={p.start // ss}, size={p.size // ss}, type={ptype}{extra}")
    return "\n".join(lines) + "\n"


def partition_device(devnode: str, number: int) -> str:
    """/dev/sda + 1 → /dev/sda1; /dev/nvme0n1 or /dev/loop3 + 1 → ...p1."""
    name = Path(devnode).name
    sep = "p" if name[-1:].isdigit() else ""
    return f"{devnode}{sep}{number}"


def mkfs_argv(part: PlannedPartition, device: str) -> list[str]:
    """The command that makes a partition's filesystem, with its label and planned UUID."""
    fs, label, fsuuid = part.filesystem, part.label, part.uuid
    if fs is Filesystem.EXT4:
        return ["mkfs.ext4", "-F", "-q", "-L", label[:16], "-U", fsuuid, device]
    if fs is Filesystem.XFS:
        return ["mkfs.xfs", "-f", "-q", "-L", label[:12], "-m", f"uuid={fsuuid}", device]
    if fs is Filesystem.BTRFS:
        return ["mkfs.btrfs", "-f", "-q", "-L", label, "-U", fsuuid, device]
    if fs is Filesystem.VFAT:
        volid = fsuuid.replace("-", "")
        return ["mkfs.vfat", "-F", "32", "-n", label.upper()[:11], "-i", volid, device]
    if fs is Filesystem.SWAP:
        return ["mkswap", "-L", label, "-U", fsuuid, device]
    raise ConfigError(
        "disk.partitions.filesystem", f"{fs!r}: expected ext4, xfs, btrfs, vfat or swap"
    )
