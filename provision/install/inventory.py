"""This machine's hardware, read from /proc and /sys (and udev for the disks): the Inventory
the live environment reports to the server before it installs.

Every reader takes the file-system root, so tests give it a tree that looks like a machine's
(`collect(root=tmp_path, records=[...])`); only `collect()` with the defaults touches the
running system.  Missing files give empty values, never an error: a machine reports what it
can.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from provision.errors import ConfigError
from provision.fleet.cpu import parse_cpuinfo
from provision.fleet.inventory import (
    FLAGS_MAX,
    CpuFacts,
    DiskFacts,
    Dmi,
    FirmwareFacts,
    FirmwareKind,
    Inventory,
    NicFacts,
    SecureBoot,
)
from provision.install.disks import Record, parse_disks
from provision.names import normalize_mac

_FLAG_RE = re.compile(r"[a-z0-9_.]{1,40}\Z")  # what the server accepts
SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
_BUSES = (  # DEVPATH fragments -> bus, first match wins
    ("/nvme", "nvme"),
    ("/usb", "usb"),
    ("/mmc", "mmc"),
    ("/virtio", "virtio"),
    ("/ata", "ata"),
    ("/host", "scsi"),
)


def _read(path: Path, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode(errors="replace")
    except OSError:
        return ""


def read_cpu(root: Path, machine: str) -> CpuFacts:
    info = parse_cpuinfo(_read(root / "proc/cpuinfo", 4 << 20))
    return CpuFacts(
        model=info.model[:200],
        vendor=info.vendor[:60],
        arch=machine,
        flags=frozenset(sorted(f for f in info.flags if _FLAG_RE.match(f))[:FLAGS_MAX]),
        cores=info.cores,
        threads=info.threads,
    )


def read_memory(root: Path) -> int:
    """Bytes of RAM: the kernel's online memory blocks (what is installed, near enough), else
    MemTotal (what is left after the kernel's own reservations)."""
    memory = root / "sys/devices/system/memory"
    block = _read(memory / "block_size_bytes").strip()
    if block:
        try:
            size = int(block, 16)
        except ValueError:
            size = 0
        online = sum(
            1
            for d in (memory.glob("memory[0-9]*") if memory.is_dir() else ())
            if _read(d / "online").strip() == "1"
        )
        if size and online:
            return size * online
    for line in _read(root / "proc/meminfo").splitlines():
        key, _, value = line.partition(":")
        if key == "MemTotal" and value.split() and value.split()[0].isdigit():
            return int(value.split()[0]) * 1024
    return 0


def bus_of(record: Record) -> str:
    bus = record.properties.get("ID_BUS", "")
    if bus:
        return bus.lower()
    devpath = record.properties.get("DEVPATH", "")
    for fragment, name in _BUSES:
        if fragment in devpath:
            return name
    return ""


def read_disks(records: Iterable[Record]) -> tuple[DiskFacts, ...]:
    records = list(records)
    by_name = {r.sys_name: r for r in records}
    out = []
    for disk in parse_disks(records):
        if disk.virtual or disk.size == 0:
            continue
        out.append(
            DiskFacts(
                name=disk.sys_name,
                size=disk.size,
                rotational=disk.rotational,
                model=disk.model[:200],
                bus=bus_of(by_name[disk.sys_name]),
                removable=disk.removable,
                serial=disk.serial[:200],
            )
        )
    return tuple(out)


def read_nics(root: Path) -> tuple[NicFacts, ...]:
    """Physical network interfaces (those with a device behind them), by name."""
    net = root / "sys/class/net"
    out = []
    for dev in sorted(net.iterdir()) if net.is_dir() else []:
        if dev.name == "lo" or not (dev / "device").exists():
            continue
        try:
            mac = normalize_mac(_read(dev / "address").strip())
        except ConfigError:
            continue
        driver_link = dev / "device" / "driver"
        driver = os.path.basename(os.readlink(driver_link)) if driver_link.is_symlink() else ""
        out.append(NicFacts(name=dev.name[:32], mac=mac, driver=driver[:64]))
    return tuple(out)


def read_dmi(root: Path) -> Dmi:
    dmi = root / "sys/class/dmi/id"
    chassis = _read(dmi / "chassis_type").strip()
    return Dmi(
        vendor=_read(dmi / "sys_vendor").strip()[:200],
        product=_read(dmi / "product_name").strip()[:200],
        serial=_read(dmi / "product_serial").strip()[:200],
        chassis_type=int(chassis) if chassis.isdigit() and int(chassis) < 256 else 2,
    )


def read_battery(root: Path) -> bool:
    supply = root / "sys/class/power_supply"
    return any(
        _read(d / "type").strip() == "Battery"
        for d in (supply.iterdir() if supply.is_dir() else ())
    )


def read_firmware(root: Path) -> FirmwareFacts:
    efi = root / "sys/firmware/efi"
    if not efi.is_dir():
        return FirmwareFacts(FirmwareKind.BIOS, SecureBoot.UNSUPPORTED)
    try:
        data = (efi / "efivars" / SECURE_BOOT_VAR).read_bytes()
    except OSError:
        return FirmwareFacts(FirmwareKind.UEFI, SecureBoot.UNKNOWN)
    # 4 bytes of attributes, then the value: 1 = Secure Boot is on
    if len(data) < 5:
        return FirmwareFacts(FirmwareKind.UEFI, SecureBoot.UNKNOWN)
    state = SecureBoot.ENABLED if data[4] == 1 else SecureBoot.DISABLED
    return FirmwareFacts(FirmwareKind.UEFI, state)


def collect(
    root: Path = Path("/"),
    records: Iterable[Record] | None = None,
    machine: str | None = None,
) -> Inventory:
    """The inventory of the machine whose /proc and /sys are under `root`."""
    if records is None:
        from provision.install.disks import records_from_udev

        records = records_from_udev()
    return Inventory(
        cpu=read_cpu(root, machine or os.uname().machine),
        memory=read_memory(root),
        disks=read_disks(records),
        nics=read_nics(root),
        dmi=read_dmi(root),
        battery=read_battery(root),
        firmware=read_firmware(root),
    )
