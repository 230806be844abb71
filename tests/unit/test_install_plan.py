"""Partition planning: a pure function of layout, disk size and firmware; sfdisk/mkfs rendering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import ConfigError, InstallError
from provision.install.plan import (
    MIB,
    PartitionPlan,
    mkfs_argv,
    partition_device,
    plan_partitions,
    render_sfdisk,
    required_size,
    resolve_firmware,
)
from provision.profiles import ProfileSet
from provision.profiles.model import DiskLayout, Filesystem, Firmware, Partition, PartitionTable

EXT4 = Filesystem.EXT4

GiB = 1 << 30
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


def _plan(layout: DiskLayout, size: int = 20 * GiB, fw: Firmware = Firmware.BIOS) -> PartitionPlan:
    return plan_partitions(layout, devnode="/dev/vda", disk_size=size, firmware=fw, seed="m/p")


def _shape(plan: PartitionPlan) -> list[tuple[str, str | None, str]]:
    return [(p.role, p.filesystem, p.mountpoint) for p in plan.partitions]


def test_server_profile_bios_gpt(profiles_dir: Path) -> None:
    layout = ProfileSet(profiles_dir).get("server-amd64").disk
    plan = _plan(layout, 20 * GiB, Firmware.BIOS)
    assert _shape(plan) == [("bios", None, ""), ("root", "ext4", "/")]
    bios, root = plan.partitions
    assert (bios.start, bios.size) == (MIB, MIB)
    assert root.start == 2 * MIB and root.end == 20 * GiB - MIB
    assert all(p.start % MIB == 0 and p.size % MIB == 0 for p in plan.partitions)


def test_desktop_profile_uefi(profiles_dir: Path) -> None:
    layout = ProfileSet(profiles_dir).get("desktop-amd64").disk
    plan = _plan(layout, 8 * GiB, Firmware.UEFI)
    # The profile's vfat /boot is the ESP; swap goes before the rest-of-disk root.
    assert _shape(plan) == [("esp", "vfat", "/boot"), ("swap", "swap", ""), ("root", "ext4", "/")]
    assert [p.size for p in plan.partitions[:2]] == [256 * MIB, 512 * MIB]
    assert plan.esp is plan.partitions[0]
    assert [p.mountpoint for p in plan.mounts] == ["/", "/boot"]


def test_uefi_adds_esp_when_layout_has_none() -> None:
    plan = _plan(DiskLayout(), 4 * GiB, Firmware.UEFI)
    assert _shape(plan) == [("esp", "vfat", "/boot/efi"), ("root", "ext4", "/")]
    assert plan.partitions[0].size == 512 * MIB


def test_bios_mbr_marks_root_bootable() -> None:
    layout = DiskLayout(table=PartitionTable.MBR, swap=256 * MIB)
    plan = _plan(layout, 4 * GiB, Firmware.BIOS)
    assert plan.table is PartitionTable.MBR and _shape(plan) == [
        ("swap", "swap", ""),
        ("root", "ext4", "/"),
    ]
    assert [p.bootable for p in plan.partitions] == [False, True]
    assert plan.disk_id.startswith("0x") and len(plan.disk_id) == 10


def test_plan_is_deterministic_per_seed() -> None:
    a = _plan(DiskLayout(), 4 * GiB)
    b = _plan(DiskLayout(), 4 * GiB)
    c = plan_partitions(
        DiskLayout(), devnode="/dev/vda", disk_size=4 * GiB, firmware=Firmware.BIOS, seed="other"
    )
    assert a == b and a.disk_id != c.disk_id
    assert a.partitions[1].uuid != c.partitions[1].uuid


def test_sfdisk_script_gpt_bios() -> None:
    plan = _plan(DiskLayout(), 4 * GiB)
    assert render_sfdisk(plan) == (
        "label: gpt\n"
        f"label-id: {plan.disk_id}\n"
        "unit: sectors\n"
        "first-lba: 2048\n"
        "\n"
        f'start=2048, size=2048, type={BIOS_BOOT}, name="BIOS"\n'
        f"start=4096, size={(4 * GiB - 3 * MIB) // 512}, "
        'type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"\n'
    )


def test_sfdisk_script_4k_sectors_uefi() -> None:
    plan = plan_partitions(
        DiskLayout(), devnode="/dev/nvme0n1", disk_size=4 * GiB, firmware=Firmware.UEFI,
        seed="s", sector_size=4096,
    )  # fmt: skip
    lines = render_sfdisk(plan).splitlines()
    assert "first-lba: 256" in lines
    assert f'start=256, size=131072, type={ESP}, name="EFI"' in lines


@pytest.mark.parametrize(
    ("layout", "size", "match"),
    [
        pytest.param(DiskLayout(), 60 * MIB, "too small", id="tiny-disk"),
        pytest.param(DiskLayout(min_size=8 * GiB), 4 * GiB, "too small", id="min-size"),
        pytest.param(
            DiskLayout(partitions=(Partition("/", 4 * GiB, EXT4),)), 2 * GiB, "too small",
            id="fixed-root",
        ),
    ],
)  # fmt: skip
def test_too_small(layout: DiskLayout, size: int, match: str) -> None:
    with pytest.raises(InstallError, match=match):
        _plan(layout, size)


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        pytest.param(
            DiskLayout(partitions=(Partition("/", None, EXT4), Partition("/home", GiB, EXT4))),
            "only the last partition", id="rest-not-last",
        ),
        pytest.param(
            DiskLayout(partitions=(Partition("/home", None, EXT4),)), "no root", id="no-root"
        ),
        pytest.param(
            DiskLayout(table=PartitionTable.MBR, swap=MIB, partitions=tuple(
                Partition(m, GiB, EXT4) for m in ("/", "/a", "/b", "/c"))),
            "MBR table holds 4", id="mbr-too-many",
        ),
    ],
)  # fmt: skip
def test_bad_layouts(layout: DiskLayout, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _plan(layout, 100 * GiB)


def test_required_size_matches_plan() -> None:
    layout = DiskLayout(swap=512 * MIB)
    need = required_size(layout, Firmware.UEFI)
    _plan(layout, need, Firmware.UEFI)  # fits exactly
    with pytest.raises(InstallError):
        _plan(layout, need - MIB, Firmware.UEFI)


@pytest.mark.parametrize(
    ("fw", "efi", "expected"),
    [
        (Firmware.AUTO, True, Firmware.UEFI),
        (Firmware.AUTO, False, Firmware.BIOS),
        (Firmware.BIOS, True, Firmware.BIOS),
    ],
)
def test_resolve_firmware(fw: Firmware, efi: bool, expected: Firmware) -> None:
    assert resolve_firmware(fw, efi) is expected


@pytest.mark.parametrize(
    ("disk", "n", "dev"),
    [
        ("/dev/sda", 1, "/dev/sda1"),
        ("/dev/nvme0n1", 2, "/dev/nvme0n1p2"),
        ("/dev/loop3", 1, "/dev/loop3p1"),
    ],
)
def test_partition_device(disk: str, n: int, dev: str) -> None:
    assert partition_device(disk, n) == dev


def test_mkfs_argv() -> None:
    plan = _plan(DiskLayout(swap=MIB * 64), 4 * GiB, Firmware.UEFI)
    esp, swap, root = plan.partitions
    assert mkfs_argv(root, "/dev/vda3") == [
        "mkfs.ext4",
        "-F",
        "-q",
        "-L",
        "root",
        "-U",
        root.uuid,
        "/dev/vda3",
    ]
    vfat = mkfs_argv(esp, "/dev/vda1")
    assert vfat[:5] == ["mkfs.vfat", "-F", "32", "-n", "EFI"] and len(vfat[6]) == 8
    assert esp.uuid == f"{vfat[6][:4]}-{vfat[6][4:]}"
    assert mkfs_argv(swap, "/dev/vda2") == ["mkswap", "-L", "swap", "-U", swap.uuid, "/dev/vda2"]
    xfs = mkfs_argv(replace(root, filesystem=Filesystem.XFS), "/dev/x")
    assert xfs[:2] == ["mkfs.xfs", "-f"] and f"uuid={root.uuid}" in xfs


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: DiskLayout(table="apm"), id="table-string"),  # type: ignore[arg-type]
        pytest.param(lambda: DiskLayout(table="mbr"), id="table-unconverted"),  # type: ignore[arg-type]
        pytest.param(lambda: Partition("/", None, "ext4"), id="filesystem-string"),  # type: ignore[arg-type]
    ],
)  # fmt: skip
def test_models_refuse_untyped_choices(make: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        make()
