"""The inventory: read from a machine-like /proc and /sys tree (and recorded udev data),
sent as JSON, and rebuilt by the server only through the validating parser."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from provision.errors import ConfigError
from provision.fleet.cpu import Level
from provision.fleet.inventory import (
    Chassis,
    FirmwareKind,
    SecureBoot,
    chassis_of,
    parse_inventory,
)
from provision.install.disks import load_records
from provision.install.inventory import SECURE_BOOT_VAR, collect
from tests.unit.fleet_samples import CPUINFO, NEHALEM_MINUS, machine

UDEV = Path(__file__).resolve().parent / "fixtures" / "udev" / "this-machine.json"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def laptop_tree(root: Path, *, efi: bytes | None = None) -> Path:
    """/proc and /sys of a UEFI laptop with a battery, an e1000e NIC and a bridge."""
    write(root / "proc/cpuinfo", (CPUINFO / NEHALEM_MINUS).read_text())
    write(root / "proc/meminfo", "MemTotal:        1460000 kB\nMemFree: 1 kB\n")
    dmi = root / "sys/class/dmi/id"
    for name, value in {
        "sys_vendor": "LENOVO\n",
        "product_name": "ThinkPad T480\n",
        "product_serial": "PF1ABCDE\n",
        "chassis_type": "10\n",
    }.items():
        write(dmi / name, value)  # fmt: skip
    net = root / "sys/class/net"
    write(net / "lo/address", "00:00:00:00:00:00\n")
    write(net / "eth0/address", "52:54:00:E2:F1:01\n")
    (net / "eth0/device").mkdir()
    os.symlink("../../../bus/pci/drivers/e1000e", net / "eth0/device/driver")
    write(net / "br0/address", "52:54:00:aa:bb:cc\n")  # no device: virtual, not reported
    write(root / "sys/class/power_supply/BAT0/type", "Battery\n")
    write(root / "sys/class/power_supply/AC/type", "Mains\n")
    if efi is not None:
        write(root / "sys/firmware/efi/efivars" / SECURE_BOOT_VAR, efi)
    return root


def test_collect_reads_a_machine(tmp_path: Path) -> None:
    root = laptop_tree(tmp_path, efi=b"\x06\x00\x00\x00\x01")
    inv = collect(root, records=load_records(UDEV.read_text()), machine="x86_64")
    assert inv.cpu.model == "Intel Core i7 9xx (Nehalem Class Core i7)"
    assert inv.cpu.level is Level.V1 and "sse4_2" not in inv.cpu.flags
    assert inv.memory == 1460000 * 1024  # no memory blocks in this tree: MemTotal
    assert [(n.name, n.mac, n.driver) for n in inv.nics] == [
        ("eth0", "52:54:00:e2:f1:01", "e1000e")
    ]
    assert (inv.dmi.vendor, inv.dmi.product, inv.dmi.serial) == (
        "LENOVO", "ThinkPad T480", "PF1ABCDE",
    )  # fmt: skip
    assert inv.dmi.chassis is Chassis.LAPTOP and inv.battery
    assert inv.firmware.kind is FirmwareKind.UEFI
    assert inv.firmware.secure_boot is SecureBoot.ENABLED
    (disk,) = inv.disks  # the recorded udev data: one virtio disk, its partitions not listed
    assert (disk.name, disk.bus, disk.rotational, disk.size) == ("vda", "virtio", True, 256 << 30)


def test_memory_blocks_give_installed_ram(tmp_path: Path) -> None:
    root = laptop_tree(tmp_path)
    mem = root / "sys/devices/system/memory"
    write(mem / "block_size_bytes", "8000000\n")  # 128 MiB, hexadecimal
    for i in range(12):
        write(mem / f"memory{i}/online", "1\n")
    write(mem / "memory99/online", "0\n")
    assert collect(root, records=[], machine="x86_64").memory == 1536 << 20


@pytest.mark.parametrize(
    ("efi", "kind", "state"),
    [
        pytest.param(None, FirmwareKind.BIOS, SecureBoot.UNSUPPORTED, id="bios"),
        pytest.param(b"\x06\x00\x00\x00\x00", FirmwareKind.UEFI, SecureBoot.DISABLED, id="off"),
        pytest.param(b"\x06", FirmwareKind.UEFI, SecureBoot.UNKNOWN, id="short"),
    ],
)  # fmt: skip
def test_firmware(tmp_path: Path, efi: bytes | None, kind: FirmwareKind, state: SecureBoot) -> None:
    inv = collect(laptop_tree(tmp_path, efi=efi), records=[], machine="x86_64")
    assert (inv.firmware.kind, inv.firmware.secure_boot) == (kind, state)


def test_empty_tree_gives_empty_report(tmp_path: Path) -> None:
    inv = collect(tmp_path, records=[], machine="x86_64")
    assert inv.cpu.level is None and inv.memory == 0 and not inv.nics and not inv.battery
    assert inv.dmi.chassis is Chassis.OTHER
    assert parse_inventory(inv.to_doc()) == inv


@pytest.mark.parametrize(
    ("code", "kind"),
    [(9, Chassis.LAPTOP), (10, Chassis.LAPTOP), (31, Chassis.LAPTOP), (3, Chassis.DESKTOP),
     (35, Chassis.DESKTOP), (17, Chassis.SERVER), (23, Chassis.SERVER), (1, Chassis.OTHER),
     (2, Chassis.OTHER)],
)  # fmt: skip
def test_chassis_types(code: int, kind: Chassis) -> None:
    assert chassis_of(code) is kind


def test_round_trip_and_derived_fields() -> None:
    inv = machine()
    doc = json.loads(json.dumps(inv.to_doc()))
    assert doc["cpu"]["level"] == "v1" and doc["dmi"]["chassis"] == "laptop"
    assert parse_inventory(doc) == inv
    doc["cpu"]["level"] = "v4"  # derived fields from the sender are ignored, never trusted
    doc["dmi"]["chassis"] = "server"
    again = parse_inventory(doc)
    assert again.cpu.level is Level.V1 and again.dmi.chassis is Chassis.LAPTOP


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = out
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param("cpu.flags", ["sse", "x" * 41], r"cpu.flags\[1\]: .* is not a CPU flag",
                     id="long-flag"),
        pytest.param("cpu.flags", ["a;b"], r"is not a CPU flag", id="flag-chars"),
        pytest.param("cpu.flags", ["f"] * 1025, r"cpu.flags: more than 1024", id="many-flags"),
        pytest.param("cpu.model", "x" * 257, r"cpu.model: longer than 256", id="long-text"),
        pytest.param("cpu.model", "a\nb", r"control characters", id="newline"),
        pytest.param("cpu.cores", -1, r"cpu.cores: expected an integer from 0", id="negative"),
        pytest.param("cpu.cores", True, r"expected an integer", id="bool-as-int"),
        pytest.param("cpu.arch", "x86 64", r"not a machine architecture", id="arch"),
        pytest.param("memory", 1.5, r"memory: expected an integer", id="float"),
        pytest.param("memory", 1 << 60, r"memory: expected an integer from 0 to", id="huge"),
        pytest.param("disks.0.name", "../sda", r"disks\[0\].name: .* is not a device name",
                     id="disk-name"),
        pytest.param("disks.0.size", "1G", r"disks\[0\].size: expected an integer", id="size"),
        pytest.param("disks", [{"name": "a", "size": 1}] * 65, r"disks: more than 64",
                     id="many-disks"),
        pytest.param("nics.0.mac", "52:54:00:zz:00:01", r"is not a MAC address", id="mac"),
        pytest.param("nics.0.mac", 5, r"nics\[0\].mac: expected a string", id="mac-type"),
        pytest.param("dmi.chassis_type", 256, r"dmi.chassis_type: expected an integer",
                     id="chassis-range"),
        pytest.param("battery", "yes", r"battery: expected true or false", id="battery"),
        pytest.param("firmware.kind", "coreboot", r"expected bios or uefi", id="firmware"),
        pytest.param("firmware.secure_boot", "on", r"expected one of enabled", id="secure"),
        pytest.param("cpu.extra", 1, r"cpu: unknown keys \['extra'\]", id="unknown-key"),
        pytest.param("dmi", [], r"dmi: expected an object", id="not-object"),
    ],
)  # fmt: skip
def test_hostile_reports_are_refused(path: str, value: Any, message: str) -> None:
    doc = machine().to_doc()
    with pytest.raises(ConfigError, match=message) as err:
        parse_inventory(_mutate(doc, path, value))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("doc", [None, [], "x", 1])
def test_not_an_object(doc: Any) -> None:
    with pytest.raises(ConfigError, match="inventory: expected an object"):
        parse_inventory(doc)
