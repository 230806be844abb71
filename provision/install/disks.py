"""Disk discovery: udev records (pyudev) → typed Disk models → the disk the profile asks for.

A *record* is what udev knows about one block device, as plain data (so tests can replay
recorded real data): its udev properties and the few sysfs attributes the installer needs.
`records_from_udev()` reads them from pyudev (the only part that touches the system);
everything else here is pure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, InstallError

# sysfs attributes recorded per block device (relative to the device's sysfs directory).
ATTRIBUTES = (
    "size",
    "removable",
    "ro",
    "queue/rotational",
    "queue/logical_block_size",
    "serial",
    "device/model",
    "device/serial",
    "device/vendor",
    "partition",
    "dev",
)
# Kernel name prefixes of block devices that are never install targets unless named by path.
VIRTUAL = ("loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd", "nullb")
SECTOR = 512  # sysfs `size` is always in 512-byte sectors


class DevType(StrEnum):
    DISK = "disk"
    PARTITION = "partition"
    OTHER = "other"  # anything else udev calls a block device; never installed to

    @classmethod
    def of(cls, value: str) -> DevType:
        return {"disk": cls.DISK, "partition": cls.PARTITION}.get(value, cls.OTHER)


@dataclass(frozen=True)
class Record:
    """One block device as udev/sysfs describe it (a disk or a partition)."""

    sys_name: str
    devnode: str
    devtype: DevType
    properties: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    parent: str = ""  # sys_name of the disk, for partitions

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        return cls(
            sys_name=str(data["sys_name"]),
            devnode=str(data["devnode"]),
            devtype=DevType.of(str(data["devtype"])),
            properties={str(k): str(v) for k, v in data.get("properties", {}).items()},
            attributes={str(k): str(v) for k, v in data.get("attributes", {}).items()},
            parent=str(data.get("parent", "")),
        )


@dataclass(frozen=True)
class Disk:
    devnode: str
    sys_name: str
    size: int  # bytes
    serial: str = ""
    model: str = ""
    removable: bool = False
    read_only: bool = False
    rotational: bool = False
    by_path: str = ""
    partitions: tuple[str, ...] = ()  # devnodes of existing partitions
    boot_medium: bool = False  # the disk (or a partition of it) is mounted or in use
    sector_size: int = 512
    devnum: str = ""  # MAJOR:MINOR

    @property
    def has_partitions(self) -> bool:
        return bool(self.partitions)

    @property
    def virtual(self) -> bool:
        return self.sys_name.startswith(VIRTUAL)

    def describe(self) -> str:
        what = " ".join(x for x in (self.model, self.serial) if x) or "no model/serial"
        return f"{self.devnode} ({human(self.size)}, {what})"


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _flag(value: str) -> bool:
    return value.strip() == "1"


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return default


def parse_disks(records: Iterable[Record], in_use: Iterable[str] = ()) -> list[Disk]:
    """Typed disks from udev records (pure).  `in_use`: MAJOR:MINOR of mounted/swap devices."""
    records = list(records)
    busy = set(in_use)
    parts: dict[str, list[Record]] = {}
    for rec in records:
        if rec.devtype is DevType.PARTITION and rec.parent:
            parts.setdefault(rec.parent, []).append(rec)
    disks = []
    for rec in records:
        if rec.devtype is not DevType.DISK:
            continue
        a, p = rec.attributes, rec.properties
        children = sorted(
            parts.get(rec.sys_name, []), key=lambda r: _int(r.attributes.get("partition", "0"))
        )
        devnums = {a.get("dev", "")} | {c.attributes.get("dev", "") for c in children}
        disks.append(
            Disk(
                devnode=rec.devnode,
                sys_name=rec.sys_name,
                size=_int(a.get("size", "0")) * SECTOR,
                serial=p.get("ID_SERIAL_SHORT")
                or p.get("ID_SERIAL")
                or a.get("serial", "").strip()
                or a.get("device/serial", "").strip(),
                model=(p.get("ID_MODEL") or a.get("device/model", "")).strip(),
                removable=_flag(a.get("removable", "0")) or p.get("ID_BUS") == "usb",
                read_only=_flag(a.get("ro", "0")),
                rotational=_flag(a.get("queue/rotational", "0")),
                by_path=f"/dev/disk/by-path/{p['ID_PATH']}" if p.get("ID_PATH") else "",
                partitions=tuple(c.devnode for c in children),
                boot_medium=bool(devnums & busy) or p.get("ID_CDROM") == "1",
                sector_size=_int(a.get("queue/logical_block_size", "512"), 512) or 512,
                devnum=a.get("dev", ""),
            )
        )
    return disks


def in_use_from_mountinfo(mountinfo: str, ignore_under: str = "") -> set[str]:
    """MAJOR:MINOR of the block devices that are mounted, from /proc/self/mountinfo (pure).
    Mounts at or below `ignore_under` (the install's own target) do not count."""
    out = set()
    skip = ignore_under.rstrip("/")
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[2].startswith("0:"):
            continue
        if skip and (fields[4] == skip or fields[4].startswith(skip + "/")):
            continue
        out.add(fields[2])
    return out


@dataclass(frozen=True)
class Choice:
    disk: Disk
    rejected: tuple[tuple[Disk, str], ...] = ()  # disks not taken, and why


def reject_reason(disk: Disk, *, min_size: int, allow_removable: bool, by_path: bool) -> str:
    """Why a disk cannot be an install target ('' if it can)."""
    if disk.boot_medium:
        return "it is the boot medium or in use (mounted)"
    if disk.read_only:
        return "it is read-only"
    if disk.size == 0:
        return "it has no medium (size 0)"
    if disk.virtual and not by_path:
        return "it is a virtual device (name it with path:/dev/X or --disk to use it)"
    if disk.removable and not allow_removable:
        return "it is removable (use --allow-removable)"
    if disk.size < min_size:
        return f"it is too small ({human(disk.size)} < {human(min_size)} needed)"
    return ""


def select_disk(
    disks: Iterable[Disk],
    rule: str,
    *,
    min_size: int,
    allow_removable: bool = False,
    wipe: bool = False,
) -> Choice:
    """The disk the profile's rule picks among the candidates (pure); InstallError if none.

    Rules: first | largest | serial:X | path:/dev/X (also a /dev/disk/by-path name).
    A disk that already holds partitions is refused unless `wipe`.
    """
    disks = list(disks)
    kind, _, arg = rule.partition(":")
    if kind not in ("first", "largest", "serial", "path") or (kind in ("serial", "path")) != bool(
        arg
    ):
        raise ConfigError(
            "disk.select", f"{rule!r}: expected first, largest, serial:X or path:/dev/X"
        )
    if kind == "path":
        target = Path(arg)
        pool = [d for d in disks if arg in (d.devnode, d.by_path) or Path(d.devnode) == target]
    elif kind == "serial":
        pool = [d for d in disks if d.serial == arg]
    else:
        pool = disks
    if not pool:
        seen = ", ".join(d.describe() for d in disks) or "none"
        raise InstallError(f"no disk matches disk.select = {rule!r} (disks: {seen})")
    rejected: list[tuple[Disk, str]] = []
    ok: list[Disk] = []
    for disk in pool:
        why = reject_reason(
            disk, min_size=min_size, allow_removable=allow_removable, by_path=kind == "path"
        )
        (rejected.append((disk, why)) if why else ok.append(disk))
    if not ok:
        detail = "; ".join(f"{d.devnode}: {why}" for d, why in rejected)
        raise InstallError(f"no suitable disk for disk.select = {rule!r}: {detail}")
    if kind == "largest":
        ok.sort(key=lambda d: -d.size)
    else:
        ok.sort(key=lambda d: _natural(d.sys_name))
    chosen = ok[0]
    if chosen.has_partitions and not wipe:
        raise InstallError(
            f"{chosen.devnode} already holds partitions ({', '.join(chosen.partitions)}); "
            "refusing to wipe it: mark the host for wipe on the server or pass --wipe"
        )
    return Choice(chosen, tuple(rejected))


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# --- reading the live system (thin) --------------------------------------------------------
def record_of(device: Any) -> Record:
    """A Record from a pyudev.Device."""
    attrs: dict[str, str] = {}
    for name in ATTRIBUTES:
        try:
            raw = device.attributes.get(name)
        except (OSError, UnicodeDecodeError):
            raw = None
        if raw is not None:
            attrs[name] = (
                raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)
            )
    parent = ""
    if device.device_type == "partition" and device.parent is not None:
        parent = device.parent.sys_name
    return Record(
        sys_name=device.sys_name,
        devnode=device.device_node or f"/dev/{device.sys_name}",
        devtype=DevType.of(device.device_type or ""),
        properties={str(k): str(v) for k, v in device.properties.items()},
        attributes=attrs,
        parent=parent,
    )


def records_from_udev() -> list[Record]:
    import pyudev

    context = pyudev.Context()
    return [record_of(d) for d in context.list_devices(subsystem="block")]


def in_use_now(ignore_under: str = "") -> set[str]:
    mountinfo = Path("/proc/self/mountinfo").read_text()
    swaps = Path("/proc/swaps").read_text() if Path("/proc/swaps").exists() else ""
    return in_use_from_mountinfo(mountinfo, ignore_under) | _swap_devnums(swaps)


def _swap_devnums(swaps: str) -> set[str]:
    out = set()
    for line in swaps.splitlines()[1:]:
        name = line.split()[0] if line.split() else ""
        if name.startswith("/dev/"):
            try:
                st = Path(name).stat()
            except OSError:
                continue
            out.add(f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
    return out


def scan(ignore_under: str = "") -> list[Disk]:
    """The disks udev sees now; mounts below `ignore_under` (our target) do not make a disk
    busy, so a rerun in the same live session can continue."""
    return parse_disks(records_from_udev(), in_use_now(ignore_under))


def dump_records(records: Iterable[Record]) -> str:
    """Records as JSON (what tests/unit/fixtures/udev/ holds)."""
    return json.dumps([r.__dict__ for r in records], indent=1, sort_keys=True) + "\n"


def load_records(text: str) -> list[Record]:
    return [Record.from_dict(d) for d in json.loads(text)]
