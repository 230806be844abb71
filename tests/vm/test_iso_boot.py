"""QEMU (TCG) boots the image to the live environment's marker: as a CD-ROM with SeaBIOS and
with OVMF, and as a raw USB stick with both firmwares.  The marker initrd prints every
provision.* kernel argument, proving which menu entry and which stamp the boot loader used."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.live.initramfs import MARKER
from provision.run import run
from tests.integration.iso_fixtures import (
    MAC,
    SERVER,
    iso_cli,
    make_data_dir,
    make_snapshot,
    read_rr,
)

pytestmark = pytest.mark.vm
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
QEMU = [
    "qemu-system-x86_64",
    "-accel",
    "tcg",
    "-m",
    "512",
    "-nographic",
    "-no-reboot",
    "-nodefaults",
    "-serial",
    "stdio",
    "-display",
    "none",
]


def media_args(image: Path, medium: str) -> list[str]:
    if medium == "cdrom":
        return ["-drive", f"file={image},media=cdrom,readonly=on,if=ide,index=2", "-boot", "d"]
    return [
        "-drive",
        f"file={image},format=raw,if=none,id=usb,readonly=on",
        "-device",
        "usb-ehci",
        "-device",
        "usb-storage,drive=usb,bootindex=0",
    ]


def firmware_args(firmware: str, tmp: Path) -> list[str]:
    if firmware == "bios":
        return []  # SeaBIOS
    vars_copy = tmp / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, vars_copy)
    return [
        "-drive",
        f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "-drive",
        f"if=pflash,format=raw,unit=1,file={vars_copy}",
    ]


def boot(image: Path, firmware: str, medium: str, tmp: Path) -> list[str]:
    """Boot until the marker initrd powers the guest off; its marker lines."""
    argv = [*QEMU, *firmware_args(firmware, tmp), *media_args(image, medium)]
    out = run(argv, timeout=300).stdout
    lines = [line.strip() for line in out.splitlines() if line.startswith(MARKER)]
    assert f"{MARKER} done" in lines, out[-3000:]
    return lines


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("iso-vm")
    data = make_data_dir(base / "data")
    host = base / "host.iso"
    assert (
        iso_cli(
            data,
            "desktop-amd64",
            "--host",
            MAC,
            "--hostname",
            "ws1",
            "--server",
            SERVER,
            "--timeout",
            "1",
            "-o",
            str(host),
        )
        == 0
    )
    make_snapshot(data)
    offline = base / "offline.iso"
    assert (
        iso_cli(
            data,
            "desktop-amd64",
            "--offline",
            "--server",
            SERVER,
            "--timeout",
            "1",
            "-o",
            str(offline),
        )
        == 0
    )
    yield {"host": host, "offline": offline}


@pytest.mark.parametrize(
    ("firmware", "medium"),
    [
        pytest.param("bios", "cdrom", id="seabios-cdrom"),
        pytest.param("uefi", "cdrom", id="ovmf-cdrom"),
        pytest.param("bios", "usb", id="seabios-usb"),
        pytest.param("uefi", "usb", id="ovmf-usb"),
    ],
)
def test_boots_to_marker(
    media: dict[str, Path], tmp_path: Path, firmware: str, medium: str
) -> None:
    image = media["host"]
    token = tomllib.loads(read_rr(image, "/provision/config.toml").decode())["token"]
    lines = boot(image, firmware, medium, tmp_path)
    assert f"{MARKER} provision.profile=desktop-amd64" in lines
    assert f"{MARKER} provision.host={MAC}" in lines
    assert f"{MARKER} provision.hostname=ws1" in lines
    assert f"{MARKER} provision.token={token}" in lines
    assert f"{MARKER} provision.server={SERVER}" in lines
    assert f"{MARKER} provision.offline=1" not in lines


def test_offline_medium_boots_the_offline_entry(media: dict[str, Path], tmp_path: Path) -> None:
    lines = boot(media["offline"], "uefi", "cdrom", tmp_path)
    assert f"{MARKER} provision.offline=1" in lines
    assert f"{MARKER} provision.config=/provision/config.toml" in lines
    assert not [line for line in lines if "provision.token=" in line]  # enrollment medium
