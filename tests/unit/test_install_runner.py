"""Choosing the disk and the plan, the dry-run text, events, state, live-environment modules."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import InstallError
from provision.install.config import InstallConfig, config_document, parse_config
from provision.install.context import InstallContext
from provision.install.disks import Disk
from provision.install.events import Events
from provision.install.plan import own_disk_id
from provision.install.runner import Options, choose, render_plan
from provision.install.state import InstallState, load_state, save_state, state_file
from provision.live.modules import module_name, parse_modules_dep, resolve
from provision.profiles import ProfileSet
from provision.profiles.model import Firmware, PartitionTable

GiB = 1 << 30


def _config(profiles_dir: Path, name: str = "desktop-amd64") -> InstallConfig:
    doc = config_document(
        host_id="52:54:00:00:00:01", hostname="ws1", profile=ProfileSet(profiles_dir).get(name),
        settings={}, base_url="http://srv", wipe=False,
        stage_url="http://srv/api/v1/files/x/stage.tar.xz",
    )  # fmt: skip
    return parse_config(json.loads(json.dumps(doc)))


DISKS = [
    Disk("/dev/sda", "sda", 2 * GiB),
    Disk("/dev/sdb", "sdb", 500 * GiB, partitions=("/dev/sdb1",)),
    Disk("/dev/nvme0n1", "nvme0n1", 256 * GiB, serial="N1"),
]


def test_choose_largest_suitable(profiles_dir: Path, tmp_path: Path) -> None:
    config = _config(profiles_dir)  # select = largest, min_size 4G, UEFI
    with pytest.raises(InstallError, match="sdb already holds partitions"):
        choose(config, DISKS, Options(target=tmp_path))
    choice, plan = choose(config, DISKS, Options(target=tmp_path, wipe=True))
    assert choice.disk.devnode == "/dev/sdb" and plan.firmware is Firmware.UEFI
    # The server marked the host for wipe.
    choice, _ = choose(replace(config, wipe=True), DISKS, Options(target=tmp_path))
    assert choice.disk.devnode == "/dev/sdb"
    # A disk whose table this install wrote (a rerun after a power loss) needs no --wipe.
    choice, _ = choose(config, DISKS, Options(target=tmp_path), owned=["/dev/sdb"])
    assert choice.disk.devnode == "/dev/sdb"
    assert own_disk_id(config.seed, PartitionTable.GPT) == plan.disk_id


def test_choose_override_and_firmware(profiles_dir: Path, tmp_path: Path) -> None:
    config = _config(profiles_dir, "server-amd64")
    opts = Options(target=tmp_path, disk="/dev/nvme0n1", firmware=Firmware.UEFI)
    choice, plan = choose(config, DISKS, opts)
    assert choice.disk.serial == "N1" and plan.esp is not None
    with pytest.raises(InstallError, match="too small"):
        choose(_config(profiles_dir), DISKS, Options(target=tmp_path, disk="/dev/sda"))


def test_dry_run_text(profiles_dir: Path, tmp_path: Path) -> None:
    config = _config(profiles_dir)
    choice, plan = choose(config, DISKS[2:], Options(target=tmp_path / "t"))
    ctx = InstallContext(tmp_path / "t", config, choice.disk, plan, Events(), tmp_path)
    text = render_plan(ctx, choice)
    assert "disk /dev/nvme0n1 (256.0 GiB, N1): gpt table, uefi firmware" in text
    assert "step partition:\n  wipefs --all --force /dev/nvme0n1\n" in text
    assert f"mkfs.ext4 -F -q -L root -U {plan.partitions[2].uuid} /dev/nvme0n1p3" in text
    assert "grub-install --target=x86_64-efi" in text and "--removable" in text
    assert f"write {tmp_path}/t/etc/fstab" in text
    assert not (tmp_path / "t").exists()


def test_events_console() -> None:
    out = io.StringIO()
    ev = Events(out=out)
    ev.emit("progress", "stage", "started", 0.5)
    ev.emit("failure", "packages", "boom", log_tail="x" * 10000)
    assert out.getvalue().splitlines() == [
        "provision-install: progress [stage] 50% started",
        "provision-install: failure [packages] boom",
    ]
    assert len(ev.sent[1]["log_tail"]) == 8192


def test_state_round_trip(tmp_path: Path) -> None:
    state = InstallState("mac/profile")
    state.mark("stage")
    save_state(tmp_path, state)
    assert load_state(tmp_path, "mac/profile").done == ["stage"]
    with pytest.raises(InstallError, match="holds another install"):
        load_state(tmp_path, "other/profile")
    state_file(tmp_path).write_text("{not json")
    with pytest.raises(InstallError, match="unreadable install state"):
        load_state(tmp_path, "mac/profile")


MODULES_DEP = """\
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko \
kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz
kernel/fs/fat/fat.ko.xz:
kernel/drivers/net/ethernet/realtek/8139cp.ko: kernel/drivers/net/mii.ko
kernel/drivers/net/mii.ko:
"""


def test_live_modules() -> None:
    assert module_name("kernel/fs/fat/vfat.ko.xz") == "vfat"
    assert parse_modules_dep(MODULES_DEP)["virtio"] == ("kernel/drivers/virtio/virtio.ko", [])
    files, names = resolve(MODULES_DEP, ["virtio_blk", "vfat", "nvme"])
    assert names == ["vfat", "virtio_blk"]
    assert files == [
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/fs/fat/fat.ko.xz",
        "kernel/fs/fat/vfat.ko.xz",
    ]


def test_secure_boot_plan_and_refusals(profiles_dir: Path, tmp_path: Path) -> None:
    """A secure_boot profile: no grub-install; the signed chain is written instead, and the
    step refuses what Secure Boot firmware would refuse later."""
    from provision.install import secureboot

    config = _config(profiles_dir, "vm-amd64-sb")
    choice, plan = choose(config, DISKS[2:], Options(target=tmp_path / "t"))
    ctx = InstallContext(tmp_path / "t", config, choice.disk, plan, Events(), tmp_path)
    text = render_plan(ctx, choice)
    assert "grub-install" not in text
    assert "Secure Boot: write BOOTX64.EFI, grubx64.efi, mmx64.efi, provision-db.der" in text
    assert secureboot.boot_prefix(plan) == "/boot/grub"
    # the server sent no Secure Boot files (an old server): refused before anything is written
    with pytest.raises(InstallError, match="sent no Secure Boot files"):
        secureboot.apply(ctx)
    # an unsigned kernel in /boot: refused with the reason
    sha = dict.fromkeys(("shimx64.efi", "mmx64.efi", "grubx64.efi", "provision-db.der"), "a" * 64)
    from provision.install.config import SecureBootFiles

    signed = replace(ctx, config=replace(config, secure_boot=SecureBootFiles("http://s/", sha)))
    boot = tmp_path / "t" / "boot"
    boot.mkdir(parents=True)
    (boot / "vmlinuz-6.1.0-demo").write_bytes(b"MZ" + b"\0" * 62)  # no PE header: damaged
    with pytest.raises(InstallError, match=r"kernel vmlinuz-6\.1\.0-demo is not signed"):
        secureboot.apply(signed)
    bios = replace(signed, plan=replace(plan, firmware=Firmware.BIOS))
    with pytest.raises(InstallError, match="needs a UEFI machine"):
        secureboot.apply(bios)
