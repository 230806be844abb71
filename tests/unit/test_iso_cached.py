"""Per-host media from a cached base: only the stamp slots differ, and the base is reused."""

from __future__ import annotations

import dataclasses
import io
import tomllib
from pathlib import Path

import pycdlib
import pytest

from provision.iso.cached import SLOT, base_key, padded, slotted, write_per_host
from provision.iso.menus import load_templates
from provision.iso.plan import STAMP_PATHS, BootBase, IsoPlan, plan_image
from tests.unit.iso_samples import STAMP

TEMPLATES = load_templates()


@pytest.fixture
def base(tmp_path: Path) -> BootBase:
    files = tmp_path / "files"
    files.mkdir()
    isolinux = Path("/usr/lib/ISOLINUX/isolinux.bin")  # isohybrid needs the real one
    assert isolinux.is_file(), "isolinux is not installed (deps/apt/iso.txt; make test installs it)"
    (files / "isolinux.bin").write_bytes(isolinux.read_bytes())
    for name, size in (("ldlinux.c32", 1000), ("efi.img", 65536), ("vmlinuz", 70000),
                       ("initrd.img", 30000)):  # fmt: skip
        (files / name).write_bytes(bytes([len(name)]) * size)
    return BootBase(
        files / "isolinux.bin", (files / "ldlinux.c32",), files / "efi.img",
        "boot/grub/provision-abc.mark", files / "vmlinuz", files / "initrd.img",
    )  # fmt: skip


def plan_for(base: BootBase, **stamp: str) -> IsoPlan:
    sources = (base.isolinux_bin, *base.syslinux_modules, base.esp_image, base.kernel, base.initrd)
    sizes = {p: p.stat().st_size for p in sources}
    stamped = dataclasses.replace(STAMP, **stamp)  # type: ignore[arg-type]
    return plan_image(base, stamped, TEMPLATES, sizes=sizes)


def read_file(image: Path, posix: str) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.open(str(image))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path="/" + posix)
    iso.close()
    return out.getvalue()


def test_slots_hold_padded_stamps_and_the_key_ignores_them(base: BootBase) -> None:
    one, two = plan_for(base), plan_for(base, hostname="ws2", mac="52:54:00:00:00:02")
    split_one, split_two = slotted(one), slotted(two)
    assert split_one is not None and split_two is not None
    assert base_key(split_one[0]) == base_key(split_two[0])
    assert set(split_one[1]) == set(STAMP_PATHS)
    assert all(len(v) == SLOT and v.endswith(b"\n") for v in split_one[1].values())
    assert padded(b"x" * (SLOT + 1)) is None
    other_kernel = dataclasses.replace(base, kernel=base.initrd)
    assert base_key(slotted(plan_for(other_kernel))[0]) != base_key(split_one[0])  # type: ignore[index]


def test_media_from_one_base_differ_only_in_their_stamps(base: BootBase, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "ws1.iso", tmp_path / "ws2.iso"
    assert write_per_host(plan_for(base), first, cache) == first.stat().st_size
    made = sorted(cache.iterdir())
    assert [p.suffix for p in made] == [".iso", ".json"]
    write_per_host(plan_for(base, hostname="ws2", mac="52:54:00:00:00:02"), second, cache)
    assert sorted(cache.iterdir()) == made  # the base was reused
    a, b = first.read_bytes(), second.read_bytes()
    assert len(a) == len(b)
    differ = sum(1 for i in range(0, len(a), SLOT) if a[i : i + SLOT] != b[i : i + SLOT])
    assert 0 < differ <= 2 * len(STAMP_PATHS)  # a slot may straddle two chunks
    config = tomllib.loads(read_file(second, "provision/config.toml").decode())
    assert (config["hostname"], config["mac"]) == ("ws2", "52:54:00:00:00:02")
    menu = read_file(second, "boot/grub/grub.cfg").decode()
    assert "provision.hostname=ws2" in menu and menu.rstrip("\n") == menu.strip("\n").rstrip("\n")
