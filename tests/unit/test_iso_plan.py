"""The medium's file list (pure): base + stamp (+ snapshot)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.iso.menus import load_templates
from provision.iso.plan import BootBase, IsoPlan, TreeFile, plan_image, volume_id
from tests.unit.iso_samples import STAMP

TEMPLATES = load_templates()
SYS = Path("/usr/lib/syslinux/modules/bios")
BASE = BootBase(
    isolinux_bin=Path("/usr/lib/ISOLINUX/isolinux.bin"),
    syslinux_modules=(SYS / "ldlinux.c32", SYS / "libutil.c32", SYS / "menu.c32"),
    esp_image=Path("/cache/esp-1.img"),
    mark="boot/grub/provision-abc.mark",
    kernel=Path("/data/live/vmlinuz"),
    initrd=Path("/data/live/initrd.img"),
)
SIZES = {
    p: 1000 + i
    for i, p in enumerate(
        (BASE.isolinux_bin, *BASE.syslinux_modules, BASE.esp_image, BASE.kernel, BASE.initrd)
    )
}


def plan(**kw: object) -> IsoPlan:
    stamp = kw.pop("stamp", STAMP)
    return plan_image(BASE, stamp, TEMPLATES, sizes=SIZES, **kw)  # type: ignore[arg-type]


def test_file_list() -> None:
    p = plan()
    assert [f.where.posix for f in p.files] == [
        "boot/efi.img",
        "boot/grub/grub.cfg",
        "boot/grub/provision-abc.mark",
        "boot/initrd.img",
        "boot/vmlinuz",
        "isolinux/isolinux.bin",
        "isolinux/isolinux.cfg",
        "isolinux/ldlinux.c32",
        "isolinux/libutil.c32",
        "isolinux/menu.c32",
        "provision/config.toml",
        "provision/server.asc",
    ]
    assert [d.posix for d in p.dirs] == ["boot", "isolinux", "provision", "boot/grub"]
    assert p.bios_boot.iso == "/ISOLINUX/ISOLINUX.BIN;1"
    assert p.efi_boot.iso == "/BOOT/EFI.IMG;1"
    assert (p.boot_catalog.iso, p.boot_catalog.joliet) == (
        "/ISOLINUX/BOOT.CAT;1",
        "/isolinux/boot.cat",
    )
    assert p.file("boot/vmlinuz").source == BASE.kernel
    assert p.file("boot/vmlinuz").size == SIZES[BASE.kernel]
    assert p.file("provision/server.asc").data == STAMP.public_key.encode()
    assert p.volume_id == "DESKTOP_AMD64"


def test_per_host_media_share_the_base() -> None:
    """Two hosts: every streamed file is the same; only the small stamp files differ."""
    a = plan()
    b = plan(stamp=replace(STAMP, mac="52:54:00:00:00:02", hostname="ws2", token="other"))
    assert [f.where for f in a.files] == [f.where for f in b.files]
    differ = [fa.where.posix for fa, fb in zip(a.files, b.files, strict=True) if fa != fb]
    assert differ == [
        "boot/grub/grub.cfg",
        "isolinux/isolinux.cfg",
        "provision/config.toml",
    ]
    stamp_bytes = sum(f.size for f in a.files if f.data is not None)
    assert stamp_bytes < 16 * 1024


def test_offline_snapshot_and_stage() -> None:
    snap = [
        TreeFile("binhost/Packages", Path("/s/binhost/Packages"), 10, 0o644),
        TreeFile("binhost/app-misc/hello/hello-1.0-1.gpkg.tar", Path("/s/h.tar"), 20, 0o644),
        TreeFile("repo/app-misc/hello/hello-1.0.ebuild", Path("/s/e"), 30, 0o644),
    ]
    stage = TreeFile("stage3.tar.xz", Path("/st/stage3.tar.xz"), 40, 0o644)
    stamp = replace(STAMP, offline=True, snapshot="s1", stage="stage3.tar.xz", has_repo=True)
    p = plan(stamp=stamp, snapshot=snap, stage=stage)
    pkg = p.file("provision/snapshot/binhost/app-misc/hello/hello-1.0-1.gpkg.tar")
    assert pkg.where.iso == "/PROVISION/SNAPSHOT/BINHOST/APP_MISC/HELLO/HELLO_1_0_1_GPKG.TAR;1"
    assert pkg.size == 20
    assert p.file("provision/stage/stage3.tar.xz").source == Path("/st/stage3.tar.xz")
    assert p.data_size == sum(SIZES.values()) + 100 + sum(
        f.size for f in p.files if f.data is not None
    )
    assert b"provision.offline=1" in (p.file("isolinux/isolinux.cfg").data or b"")


def test_snapshot_may_not_shadow_a_boot_file() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        plan_image(replace(BASE, mark="provision/config.toml"), STAMP, TEMPLATES, sizes=SIZES)


@pytest.mark.parametrize(
    ("profile", "vol"),
    [
        pytest.param("desktop-amd64", "DESKTOP_AMD64", id="short"),
        pytest.param("a-very-long-profile-name", "A_VERY_LONG_PROF", id="truncated"),
    ],
)
def test_volume_id(profile: str, vol: str) -> None:
    assert volume_id(profile) == vol
