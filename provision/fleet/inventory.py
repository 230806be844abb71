"""A machine's hardware as the live environment reports it (the inventory), and its validation.

The installer builds an Inventory from /proc and /sys (provision.install.inventory) and sends
`to_doc()`; the server accepts nothing it has not rebuilt with `parse_inventory()`: every
field typed, every string and list capped, unknown keys refused.  Derived values (the x86-64
level, the chassis kind) are computed here from the raw ones, never taken from the sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from provision.errors import ConfigError
from provision.fleet.cpu import Level, level_of
from provision.names import normalize_mac

TEXT_MAX = 256  # a DMI string, a CPU model, a disk model
FLAGS_MAX = 1024  # CPU flags
DISKS_MAX = 64
NICS_MAX = 64
MEMORY_MAX = 1 << 54  # 16 PiB
DISK_SIZE_MAX = 1 << 60
THREADS_MAX = 1 << 16
BODY_MAX = 256 << 10  # bytes of a report (the server's cap on the request)
_FLAG_RE = re.compile(r"[a-z0-9_.]{1,40}\Z")
_DEVNAME_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,32}\Z")
_ARCH_RE = re.compile(r"[a-z0-9_]{1,16}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Chassis(StrEnum):
    """What the SMBIOS chassis type amounts to for rules."""

    LAPTOP = "laptop"
    DESKTOP = "desktop"
    SERVER = "server"
    OTHER = "other"


# SMBIOS 3.x, type 3 "chassis type" values
_LAPTOP_TYPES = {8, 9, 10, 11, 14, 30, 31, 32}  # portable, laptop, notebook, hand held...
_DESKTOP_TYPES = {3, 4, 5, 6, 7, 13, 15, 16, 35, 36}  # desktop, tower, all in one, mini PC...
_SERVER_TYPES = {17, 23, 25, 28, 29}  # main server, rack mount, multi-system, blade...


def chassis_of(smbios_type: int) -> Chassis:
    if smbios_type in _LAPTOP_TYPES:
        return Chassis.LAPTOP
    if smbios_type in _DESKTOP_TYPES:
        return Chassis.DESKTOP
    if smbios_type in _SERVER_TYPES:
        return Chassis.SERVER
    return Chassis.OTHER


class FirmwareKind(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"


class SecureBoot(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    UNSUPPORTED = "unsupported"  # BIOS: there is no Secure Boot
    UNKNOWN = "unknown"  # UEFI, but the variable could not be read


@dataclass(frozen=True)
class CpuFacts:
    model: str = ""
    vendor: str = ""
    arch: str = "x86_64"  # uname -m
    flags: frozenset[str] = frozenset()
    cores: int = 0
    threads: int = 0

    @property
    def level(self) -> Level | None:
        return level_of(self.flags) if self.arch == "x86_64" else None


@dataclass(frozen=True)
class DiskFacts:
    name: str  # kernel name: sda, nvme0n1, vda
    size: int  # bytes
    rotational: bool = False
    model: str = ""
    bus: str = ""  # ata, nvme, scsi, usb, virtio, mmc, or ""
    removable: bool = False
    serial: str = ""


@dataclass(frozen=True)
class NicFacts:
    name: str
    mac: str
    driver: str = ""


@dataclass(frozen=True)
class Dmi:
    vendor: str = ""
    product: str = ""
    serial: str = ""
    chassis_type: int = 2  # SMBIOS "unknown"

    @property
    def chassis(self) -> Chassis:
        return chassis_of(self.chassis_type)


@dataclass(frozen=True)
class FirmwareFacts:
    kind: FirmwareKind = FirmwareKind.BIOS
    secure_boot: SecureBoot = SecureBoot.UNSUPPORTED

    def __post_init__(self) -> None:
        if not isinstance(self.kind, FirmwareKind) or not isinstance(self.secure_boot, SecureBoot):
            raise TypeError("FirmwareFacts: kind and secure_boot must be enums")


@dataclass(frozen=True)
class Inventory:
    cpu: CpuFacts = field(default_factory=CpuFacts)
    memory: int = 0  # bytes
    disks: tuple[DiskFacts, ...] = ()
    nics: tuple[NicFacts, ...] = ()
    dmi: Dmi = field(default_factory=Dmi)
    battery: bool = False
    firmware: FirmwareFacts = field(default_factory=FirmwareFacts)

    @property
    def fixed_disks(self) -> tuple[DiskFacts, ...]:
        """Disks that count for rules: not removable, not empty."""
        return tuple(d for d in self.disks if not d.removable and d.size > 0)

    def to_doc(self) -> dict[str, Any]:
        """The JSON form (what the installer sends; the API answers it with derived fields)."""
        level = self.cpu.level
        return {
            "cpu": {
                "model": self.cpu.model,
                "vendor": self.cpu.vendor,
                "arch": self.cpu.arch,
                "flags": sorted(self.cpu.flags),
                "cores": self.cpu.cores,
                "threads": self.cpu.threads,
                "level": level.short if level else "",
            },
            "memory": self.memory,
            "disks": [
                {
                    "name": d.name,
                    "size": d.size,
                    "rotational": d.rotational,
                    "model": d.model,
                    "bus": d.bus,
                    "removable": d.removable,
                    "serial": d.serial,
                }
                for d in self.disks
            ],
            "nics": [{"name": n.name, "mac": n.mac, "driver": n.driver} for n in self.nics],
            "dmi": {
                "vendor": self.dmi.vendor,
                "product": self.dmi.product,
                "serial": self.dmi.serial,
                "chassis_type": self.dmi.chassis_type,
                "chassis": self.dmi.chassis.value,
            },
            "battery": self.battery,
            "firmware": {
                "kind": self.firmware.kind.value,
                "secure_boot": self.firmware.secure_boot.value,
            },
        }


# --- validation of a report (hostile input) ----------------------------------------------------
DERIVED = {("cpu", "level"), ("dmi", "chassis")}  # sent back by to_doc(); ignored on input


def _obj(where: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(where, "expected an object")
    section = where.rsplit(".", 1)[-1]
    unknown = sorted(k for k in value if k not in keys and (section, k) not in DERIVED)
    if unknown:
        raise ConfigError(where, f"unknown keys {unknown[:5]} (allowed: {', '.join(keys)})")
    return value


def _text(where: str, value: Any, limit: int = TEXT_MAX) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, "expected a string")
    if len(value) > limit:
        raise ConfigError(where, f"longer than {limit} characters")
    if _CONTROL.search(value):
        raise ConfigError(where, "control characters are not allowed")
    return value.strip()


def _int(where: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(where, f"expected an integer from {low} to {high}")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, "expected true or false")
    return value


def _list(where: str, value: Any, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(where, "expected a list")
    if len(value) > limit:
        raise ConfigError(where, f"more than {limit} entries")
    return value


def _name(where: str, value: Any) -> str:
    text = _text(where, value, 32)
    if not _DEVNAME_RE.match(text):
        raise ConfigError(where, f"{text!r} is not a device name")
    return text


def _cpu(d: Any) -> CpuFacts:
    d = _obj("cpu", d, ("model", "vendor", "arch", "flags", "cores", "threads"))
    flags = _list("cpu.flags", d.get("flags", []), FLAGS_MAX)
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or not _FLAG_RE.match(flag):
            raise ConfigError(f"cpu.flags[{i}]", f"{str(flag)[:40]!r} is not a CPU flag")
    arch = _text("cpu.arch", d.get("arch", "x86_64"), 16)
    if not _ARCH_RE.match(arch):
        raise ConfigError("cpu.arch", f"{arch!r} is not a machine architecture")
    return CpuFacts(
        model=_text("cpu.model", d.get("model", "")),
        vendor=_text("cpu.vendor", d.get("vendor", ""), 64),
        arch=arch,
        flags=frozenset(flags),
        cores=_int("cpu.cores", d.get("cores", 0), 0, THREADS_MAX),
        threads=_int("cpu.threads", d.get("threads", 0), 0, THREADS_MAX),
    )


def _disk(where: str, d: Any) -> DiskFacts:
    keys = ("name", "size", "rotational", "model", "bus", "removable", "serial")
    d = _obj(where, d, keys)
    bus = _text(f"{where}.bus", d.get("bus", ""), 16)
    if bus and not _ARCH_RE.match(bus):
        raise ConfigError(f"{where}.bus", f"{bus!r} is not a bus name")
    return DiskFacts(
        name=_name(f"{where}.name", d.get("name")),
        size=_int(f"{where}.size", d.get("size"), 0, DISK_SIZE_MAX),
        rotational=_bool(f"{where}.rotational", d.get("rotational", False)),
        model=_text(f"{where}.model", d.get("model", "")),
        bus=bus,
        removable=_bool(f"{where}.removable", d.get("removable", False)),
        serial=_text(f"{where}.serial", d.get("serial", "")),
    )


def _nic(where: str, d: Any) -> NicFacts:
    d = _obj(where, d, ("name", "mac", "driver"))
    mac = d.get("mac")
    if not isinstance(mac, str):
        raise ConfigError(f"{where}.mac", "expected a string")
    return NicFacts(
        name=_name(f"{where}.name", d.get("name")),
        mac=normalize_mac(mac[:32]),
        driver=_text(f"{where}.driver", d.get("driver", ""), 64),
    )


def parse_inventory(doc: Any) -> Inventory:
    """Validate a report into an Inventory; ConfigError naming the field otherwise."""
    keys = ("cpu", "memory", "disks", "nics", "dmi", "battery", "firmware")
    d = _obj("inventory", doc, keys)
    dmi = _obj("dmi", d.get("dmi", {}), ("vendor", "product", "serial", "chassis_type"))
    fw = _obj("firmware", d.get("firmware", {}), ("kind", "secure_boot"))
    kind = _text("firmware.kind", fw.get("kind", "bios"), 16)
    secure = _text("firmware.secure_boot", fw.get("secure_boot", "unsupported"), 16)
    if kind not in tuple(FirmwareKind):
        raise ConfigError("firmware.kind", f"{kind!r}: expected bios or uefi")
    if secure not in tuple(SecureBoot):
        allowed = ", ".join(s.value for s in SecureBoot)
        raise ConfigError("firmware.secure_boot", f"{secure!r}: expected one of {allowed}")
    disks = _list("disks", d.get("disks", []), DISKS_MAX)
    nics = _list("nics", d.get("nics", []), NICS_MAX)
    return Inventory(
        cpu=_cpu(d.get("cpu", {})),
        memory=_int("memory", d.get("memory", 0), 0, MEMORY_MAX),
        disks=tuple(_disk(f"disks[{i}]", x) for i, x in enumerate(disks)),
        nics=tuple(_nic(f"nics[{i}]", x) for i, x in enumerate(nics)),
        dmi=Dmi(
            vendor=_text("dmi.vendor", dmi.get("vendor", "")),
            product=_text("dmi.product", dmi.get("product", "")),
            serial=_text("dmi.serial", dmi.get("serial", "")),
            chassis_type=_int("dmi.chassis_type", dmi.get("chassis_type", 2), 0, 255),
        ),
        battery=_bool("battery", d.get("battery", False)),
        firmware=FirmwareFacts(FirmwareKind(kind), SecureBoot(secure)),
    )
