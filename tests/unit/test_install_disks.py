"""Disk discovery: the parser on udev data recorded on a real machine, and the selection rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import ConfigError, InstallError
from provision.install.disks import (
    DevType,
    Disk,
    Record,
    dump_records,
    in_use_from_mountinfo,
    load_records,
    parse_disks,
    select_disk,
)

FIXTURES = Path(__file__).parent / "fixtures" / "udev"
GiB = 1 << 30


@pytest.fixture
def recorded() -> list[Disk]:
    records = load_records((FIXTURES / "this-machine.json").read_text())
    in_use = in_use_from_mountinfo((FIXTURES / "this-machine.mountinfo").read_text())
    return parse_disks(records, in_use)


def test_recorded_machine_parses(recorded: list[Disk]) -> None:
    by_node = {d.devnode: d for d in recorded}
    vda = by_node["/dev/vda"]
    assert vda.size == 256 * GiB and vda.serial == "overlayblk" and vda.rotational
    assert vda.boot_medium, "the disk mounted on / is the boot medium"
    assert not vda.removable and not vda.read_only and vda.sector_size == 512
    loop0 = by_node["/dev/loop0"]
    assert loop0.size == 64 << 20 and loop0.virtual
    assert loop0.partitions == ("/dev/loop0p1", "/dev/loop0p2")
    assert by_node["/dev/zram0"].sector_size == 4096 and by_node["/dev/zram0"].size == 0
    assert "/dev/loop0p1" not in by_node, "partitions are not disks"


def test_round_trip_records() -> None:
    records = load_records((FIXTURES / "this-machine.json").read_text())
    assert load_records(dump_records(records)) == records


def test_recorded_machine_has_no_candidate(recorded: list[Disk]) -> None:
    with pytest.raises(InstallError) as err:
        select_disk(recorded, "first", min_size=GiB)
    text = str(err.value)
    assert "/dev/vda: it is the boot medium" in text
    assert "/dev/loop0: it is a virtual device" in text
    assert "/dev/loop1: it has no medium" in text


def test_loop_by_path_needs_wipe(recorded: list[Disk]) -> None:
    with pytest.raises(InstallError, match=r"/dev/loop0 already holds partitions.*--wipe"):
        select_disk(recorded, "path:/dev/loop0", min_size=1 << 20)
    choice = select_disk(recorded, "path:/dev/loop0", min_size=1 << 20, wipe=True)
    assert choice.disk.devnode == "/dev/loop0"


def _disk(name: str, size: int, **kw: object) -> Disk:
    return Disk(devnode=f"/dev/{name}", sys_name=name, size=size, **kw)  # type: ignore[arg-type]


DISKS = [
    _disk("sda", 100 * GiB, serial="S-A", boot_medium=True),
    _disk("sdb", 50 * GiB, serial="S-B"),
    _disk("sdc", 500 * GiB, serial="S-C", removable=True),
    _disk("sdd", 200 * GiB, serial="S-D", read_only=True),
    _disk("nvme0n1", 120 * GiB, serial="S-N", by_path="/dev/disk/by-path/pci-0000:01:00.0-nvme-1"),
    _disk("sde", 2 * GiB, serial="S-E"),
]


@pytest.mark.parametrize(
    ("rule", "kw", "expected"),
    [
        pytest.param("first", {}, "/dev/nvme0n1", id="first-natural-order"),
        pytest.param("largest", {}, "/dev/nvme0n1", id="largest-skips-ro-removable-boot"),
        pytest.param("largest", {"allow_removable": True}, "/dev/sdc", id="largest-removable"),
        pytest.param("serial:S-B", {}, "/dev/sdb", id="serial"),
        pytest.param("path:/dev/sdb", {}, "/dev/sdb", id="path"),
        pytest.param(
            "path:/dev/disk/by-path/pci-0000:01:00.0-nvme-1", {}, "/dev/nvme0n1", id="by-path"
        ),
    ],
)
def test_select(rule: str, kw: dict[str, bool], expected: str) -> None:
    assert select_disk(DISKS, rule, min_size=10 * GiB, **kw).disk.devnode == expected


@pytest.mark.parametrize(
    ("rule", "min_size", "message"),
    [
        pytest.param("serial:S-A", GiB, "boot medium", id="boot-medium"),
        pytest.param("serial:S-D", GiB, "read-only", id="read-only"),
        pytest.param("serial:S-C", GiB, "removable", id="removable"),
        pytest.param("serial:S-E", 10 * GiB, r"too small \(2.0 GiB < 10.0 GiB", id="too-small"),
        pytest.param("serial:NOPE", GiB, "no disk matches", id="no-match"),
        pytest.param("largest", 1000 * GiB, "no suitable disk", id="none-large-enough"),
    ],
)
def test_select_refuses(rule: str, min_size: int, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        select_disk(DISKS, rule, min_size=min_size)


def test_partitioned_disk_refused_unless_wipe() -> None:
    disks = [replace(DISKS[1], partitions=("/dev/sdb1",))]
    with pytest.raises(InstallError, match="already holds partitions"):
        select_disk(disks, "first", min_size=GiB)
    assert select_disk(disks, "first", min_size=GiB, wipe=True).disk.devnode == "/dev/sdb"


@pytest.mark.parametrize("rule", ["biggest", "serial:", "path", "first:x"])
def test_bad_rule(rule: str) -> None:
    with pytest.raises(ConfigError, match=r"disk\.select"):
        select_disk(DISKS, rule, min_size=0)


def test_usb_disk_is_removable() -> None:
    rec = Record(
        "sdf",
        "/dev/sdf",
        DevType.DISK,
        properties={"ID_BUS": "usb", "ID_SERIAL_SHORT": "U1", "ID_MODEL": "Stick"},
        attributes={"size": "2097152", "removable": "0", "dev": "8:80"},
    )
    (disk,) = parse_disks([rec])
    assert disk.removable and disk.serial == "U1" and disk.model == "Stick"
    assert disk.size == GiB


def test_own_target_mounts_do_not_count() -> None:
    mountinfo = (
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "90 27 259:2 / /mnt/gentoo rw - ext4 /dev/loop0p2 rw\n"
        "91 90 259:1 / /mnt/gentoo/boot/efi rw - vfat /dev/loop0p1 rw\n"
        "92 27 259:5 / /mnt/gentoo2 rw - ext4 /dev/loop1p1 rw\n"
        "93 27 0:22 / /sys rw - sysfs sysfs rw\n"
    )
    assert in_use_from_mountinfo(mountinfo) == {"254:0", "259:2", "259:1", "259:5"}
    assert in_use_from_mountinfo(mountinfo, "/mnt/gentoo/") == {"254:0", "259:5"}
