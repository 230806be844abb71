"""Proof by boot: an empty QEMU machine (TCG) with a blank disk boots over PXE or from the ISO,
BIOS and UEFI; the installer installs vm-amd64 (@system and the kernel from the signed binhost
the builder made on the `stage` root) unattended and reports finish; then the machine restarts
from the disk alone and the installed system prints its hostname and package list.

The server (`provision serve --tftp --dnsmasq`) runs in a network namespace for the whole
module (tests/vm/e2e.py); each test adds one machine: a MAC, a blank disk, a firmware.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.hosts import BootPath, HostState
from provision.run import run
from provision.server.bootpaths import last_boot
from tests.integration.build_fixtures import provision
from tests.vm.e2e import BASE_URL, MARKER, PROFILE, Machine, Stack, e2e_stack, marker_lines

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1500)]
INSTALL_TIMEOUT = 900
DISK_BOOT_TIMEOUT = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with e2e_stack(tmp_path_factory.mktemp("e2e")) as made:
        yield made


CASES = [
    pytest.param("pxe", "bios", "52:54:00:e2:e0:01", id="pxe-bios"),
    pytest.param("pxe", "uefi", "52:54:00:e2:e0:02", id="pxe-uefi"),
    pytest.param("iso", "bios", "52:54:00:e2:e0:03", id="iso-bios"),
    pytest.param("iso", "uefi", "52:54:00:e2:e0:04", id="iso-uefi"),
    pytest.param("usb", "bios", "52:54:00:e2:e0:05", id="usb-bios"),  # the ISO as a USB disk
]


@pytest.mark.parametrize(("medium", "firmware", "mac"), CASES)
def test_bare_machine_installs_and_boots(
    stack: Stack, medium: str, firmware: str, mac: str
) -> None:
    hostname = f"e2e-{medium}-{firmware}"
    name = f"{medium}-{firmware}"
    iso = None
    if medium == "pxe":
        stack.register(mac, hostname)
    else:
        iso = stack.lab.work / f"{name}.iso"  # "usb": the same hybrid image as a USB disk
        res = provision(
            stack.data, "iso", PROFILE, "--host", mac, "--hostname", hostname,
            "--server", BASE_URL, "--timeout", "1", "-o", str(iso),
        )  # fmt: skip
        assert iso.is_file(), res.stdout + res.stderr
    machine = Machine(stack, name, mac, firmware, medium, iso=iso)
    try:
        check_install(stack, machine, hostname)
    except BaseException:
        machine.keep_logs()  # test-artifacts/vm/<name>/: serial consoles, server, dnsmasq
        raise


def check_install(stack: Stack, machine: Machine, hostname: str) -> None:
    mac, firmware = machine.mac, machine.firmware
    vm, _ = machine.install(INSTALL_TIMEOUT)
    console = vm.text()
    assert f"provision-install: fetching {BASE_URL}/api/v1/hosts/{mac}/config" in console
    host, events = stack.host(mac)
    assert host.state is HostState.INSTALLED, (host, [e.kind for e in events])
    assert host.boot_local
    kinds = [e.kind for e in events if e.kind != "boot"]
    assert kinds[0] == "start" and kinds[-1] == "finish", kinds
    # how it booted, as the live environment read it (UEFI variables; under BIOS the menu's
    # provision.boot= / the medium), recorded with the install events
    booted = last_boot(events)
    assert booted is not None, events
    expected = {"pxe": BootPath.PXE, "iso": BootPath.ISO, "usb": BootPath.USB}[machine.boot]
    assert (booted[0].path, booted[0].firmware) == (expected, firmware), booted
    done = {e.step for e in events if e.kind == "progress"}
    assert {"partition", "stage", "packages", "kernel", "bootloader", "system"} <= done, done

    table = run(["sfdisk", "--dump", str(machine.disk)]).stdout
    esp = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    assert (esp in table) == (firmware == "uefi"), table

    console, _ = machine.boot_disk(DISK_BOOT_TIMEOUT)
    lines = marker_lines(console)
    assert f"{MARKER} hostname={hostname}" in lines, "\n".join(lines) or console[-3000:]
    packages = {
        re.sub(r"-[0-9][^/]*$", "", ln.split("=", 1)[1])
        for ln in lines
        if ln.startswith(f"{MARKER} package=")
    }
    assert {"sys-apps/demo-base", "sys-kernel/demo-kernel-bin", "app-misc/hello"} <= packages, (
        packages
    )
    assert "vmlinuz-6.1.0-demo" in console  # GRUB booted the kernel from the binhost
    assert "provision-live" not in console  # not the live environment: the disk alone


def test_artifacts_dir_is_ignored() -> None:
    """Serial logs of failed runs go to test-artifacts/vm/, which git ignores."""
    root = Path(__file__).resolve().parents[2]
    res = run(["git", "-C", str(root), "check-ignore", "test-artifacts/vm/x.log"], check=False)
    assert res.returncode == 0, res.stdout + res.stderr
