"""Shared samples for the fleet's unit tests: real /proc/cpuinfo captures
(tests/unit/fixtures/cpuinfo/, see its README) and inventories built from them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from provision.fleet.cpu import CpuInfo, parse_cpuinfo
from provision.fleet.inventory import (
    CpuFacts,
    DiskFacts,
    Dmi,
    FirmwareFacts,
    FirmwareKind,
    Inventory,
    NicFacts,
    SecureBoot,
)

CPUINFO = Path(__file__).resolve().parent / "fixtures" / "cpuinfo"
QEMU64 = "qemu64-tcg.txt"  # v1
NEHALEM_MINUS = "nehalem-minus-sse4.2-popcnt-tcg.txt"  # v1: Nehalem without sse4.2, popcnt
NEHALEM = "nehalem-tcg.txt"  # v2
HASWELL = "haswell-noTSX-IBRS-tcg.txt"  # v3
QEMU_MAX = "max-tcg.txt"  # v3
SAPPHIRE = "host-xeon-sapphirerapids.txt"  # v4 (hardware)
SKYLAKE_SP = "xeon-gold-6148-skylake-sp-written.txt"  # v4 (written)
GiB = 1 << 30


def cpuinfo(name: str) -> CpuInfo:
    return parse_cpuinfo((CPUINFO / name).read_text())


def machine(
    sample: str = NEHALEM_MINUS,
    *,
    chassis_type: int = 10,
    vendor: str = "LENOVO",
    product: str = "ThinkPad T480",
    serial: str = "PF1ABCDE",
    memory: int = 8 * GiB,
    disks: tuple[int, ...] = (256 * GiB,),
    mac: str = "52:54:00:12:34:56",
) -> Inventory:
    """An inventory: the CPU of a cpuinfo sample, the rest as given (a laptop by default)."""
    info = cpuinfo(sample)
    return Inventory(
        cpu=CpuFacts(info.model, info.vendor, "x86_64", info.flags, info.cores, info.threads),
        memory=memory,
        disks=tuple(DiskFacts(f"sd{chr(97 + i)}", size, bus="ata") for i, size in enumerate(disks)),
        nics=(NicFacts("eth0", mac, "e1000e"),),
        dmi=Dmi(vendor, product, serial, chassis_type),
        battery=chassis_type == 10,
        firmware=FirmwareFacts(FirmwareKind.UEFI, SecureBoot.ENABLED),
    )


def with_flags(inv: Inventory, flags: frozenset[str]) -> Inventory:
    return replace(inv, cpu=replace(inv.cpu, flags=flags))
