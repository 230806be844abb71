"""The demo's pure parts: its settings files, the demo machine's QEMU command lines, the relay."""

from __future__ import annotations

import socket
import threading
import tomllib
from pathlib import Path

import pytest

from provision.builder.settings import RootKind, parse_settings
from provision.commands.demo import machine_spec
from provision.demo.relay import pump
from provision.demo.settings import (
    GUEST_SERVER,
    OLD_BUILD_TOML,
    STAGE_PROFILE,
    build_toml,
    server_toml,
    write_build_settings,
)
from provision.demo.vm import Firmware, MachineSpec, Medium, disk_argv, install_argv, netdev

STAGE = Path("/cache/rootfs-bookworm-portage-3.0.83-r2.tar.zst")


def test_build_toml_puts_the_stage_profile_in_a_stage_root(tmp_path: Path) -> None:
    settings = parse_settings(build_toml(STAGE), "build.toml", tmp_path)
    assert settings.root_for(STAGE_PROFILE).kind is RootKind.STAGE
    assert settings.root_for(STAGE_PROFILE).stage == STAGE
    assert settings.root_for("server-amd64").kind is RootKind.PREFIX
    assert "sys-kernel/demo-kernel-bin" in settings.distfiles
    assert "stand-in for a Gentoo stage3" in build_toml(STAGE)


def test_build_settings_replace_only_the_demos_own(tmp_path: Path) -> None:
    path = tmp_path / "build.toml"
    assert write_build_settings(tmp_path, STAGE) and path.read_text() == build_toml(STAGE)
    path.write_text(OLD_BUILD_TOML)  # what an older demo wrote: upgraded
    assert write_build_settings(tmp_path, STAGE) and path.read_text() == build_toml(STAGE)
    path.write_text("keep = 3\n")  # the admin's own: kept
    assert not write_build_settings(tmp_path, STAGE) and path.read_text() == "keep = 3\n"


def test_server_toml_adds_what_is_missing_only() -> None:
    fresh = tomllib.loads(server_toml("", "http://127.0.0.1:8080", "k" * 32, "scrypt:x"))
    assert fresh == {
        "secret_key": "k" * 32,
        "admin_password_hash": "scrypt:x",
        "base_url": "http://127.0.0.1:8080",
        "server_names": [GUEST_SERVER],
    }
    own = 'secret_key = "mine-mine-mine-mine"\n[[networks]]\ncidr = "10.0.0.0/8"\nbase_url = "http://a"\n'
    merged = tomllib.loads(server_toml(own, "http://127.0.0.1:8080", "k" * 32, "scrypt:x"))
    assert merged["secret_key"] == "mine-mine-mine-mine"
    assert merged["base_url"] == "http://127.0.0.1:8080"  # top level, not inside the table
    assert merged["networks"] == [{"cidr": "10.0.0.0/8", "base_url": "http://a"}]


def spec(
    tmp_path: Path, medium: Medium = Medium.PXE, firmware: Firmware = Firmware.BIOS
) -> MachineSpec:
    iso = tmp_path / "m.iso" if medium is Medium.ISO else None
    return MachineSpec(medium, firmware, 18080, tmp_path, iso=iso, python="/venv/bin/python")


def test_netdev_is_restricted_to_the_one_forward(tmp_path: Path) -> None:
    text = netdev(spec(tmp_path))
    assert text.split(",") == [
        "user",
        "id=n0",
        "restrict=on",
        "guestfwd=tcp:10.0.2.100:18080-cmd:/venv/bin/python -m provision.demo.relay "
        "127.0.0.1 18080",
        "bootfile=http://10.0.2.100:18080/boot/boot.ipxe",
    ]
    assert "bootfile" not in netdev(spec(tmp_path, Medium.ISO))


def test_install_and_disk_command_lines(tmp_path: Path) -> None:
    pxe = install_argv(spec(tmp_path))
    assert pxe[:3] == ["qemu-system-x86_64", "-accel", "tcg"] and "-no-reboot" in pxe
    assert "virtio-net-pci,netdev=n0,mac=52:54:00:de:00:01,bootindex=1" in pxe
    iso = install_argv(spec(tmp_path, Medium.ISO, Firmware.UEFI), Path("/ovmf/CODE.fd"))
    assert f"file={tmp_path / 'm.iso'},format=raw,if=none,id=cd,media=cdrom,readonly=on" in iso
    assert "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/CODE.fd" in iso
    disk = disk_argv(spec(tmp_path))
    assert not any("netdev" in a or "cdrom" in a for a in disk)  # the disk alone
    assert "virtio-blk-pci,drive=d0,bootindex=0" in disk


def test_iso_boot_needs_the_iso(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the ISO"):
        MachineSpec(Medium.ISO, Firmware.BIOS, 1, tmp_path)


def test_relay_copies_both_ways_and_passes_half_closes() -> None:
    guest, guest_end = socket.socketpair()
    server, server_end = socket.socketpair()
    done = threading.Thread(target=pump, args=(guest_end.fileno(), server_end, 10))
    done.start()
    guest.sendall(b"GET / HTTP/1.0\r\n\r\n")
    guest.shutdown(socket.SHUT_WR)
    assert server.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
    assert server.recv(100) == b""  # the guest's half-close reached the server
    server.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
    server.close()
    done.join(10)
    assert not done.is_alive()
    assert guest.recv(100) == b"HTTP/1.0 200 OK\r\n\r\nhello"
    for s in (guest, guest_end, server_end):
        s.close()


@pytest.mark.parametrize("medium", ["pxe", "iso"])
def test_machine_spec_of_the_command_line(tmp_path: Path, medium: str) -> None:
    made = machine_spec(medium, "uefi", 8080, tmp_path)
    assert made.firmware is Firmware.UEFI and made.server_url == "http://10.0.2.100:8080"
    assert made.iso == (tmp_path / "demo-vm.iso" if medium == "iso" else None)
