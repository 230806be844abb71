"""Power-on → installed → disk boot → marker, on the boot paths of current hardware.

- http-boot-uefi: OVMF's own UEFI HTTP boot (no NIC option ROM, OVMF's PXE off), full DHCP
  mode: dnsmasq answers the HTTPClient with http://SERVER/boot/http/ipxe.efi, iPXE follows the
  HTTP chain, the live environment installs vm-amd64; no TFTP server on the lab network.
- secureboot-installed: OVMF with Secure Boot enforced, Microsoft's keys and the server's
  certificate in db (virt-fw-vars): the Secure Boot ISO (shim → Debian's signed GRUB → Debian's
  signed kernel) installs vm-amd64-sb (secure_boot = true), whose kernel the builder signed
  with the server's key (Debian's signature removed first); the disk boots shim → the
  server-signed GRUB → that kernel, with Secure Boot on.
- secureboot-installed-refused: the same disk on a machine with Microsoft's keys only: shim
  refuses the server-signed GRUB (the chain really verifies our key).

Both installs report how they booted (the live environment reads the firmware's variables);
the server records it with the install events.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.hosts import BootPath, EventKind, HostState
from provision.run import run
from provision.secureboot import pe
from provision.server.bootpaths import last_boot
from tests.integration.build_fixtures import provision
from tests.vm import firmware as fw
from tests.vm.e2e import BASE_URL, MARKER, PROFILE, Machine, Stack, e2e_stack, marker_lines

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]
SB_PROFILE = "vm-amd64-sb"
INSTALL_TIMEOUT = 900
DISK_BOOT_TIMEOUT = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """vm-amd64 and vm-amd64-sb built; `provision serve --dnsmasq` without any TFTP server."""
    with e2e_stack(
        tmp_path_factory.mktemp("fw-e2e"), build=(PROFILE, SB_PROFILE), tftp=False
    ) as made:
        yield made


def kept(machine: Machine) -> None:
    machine.keep_logs()  # test-artifacts/vm/<name>/: serial consoles, server, dnsmasq


def check_installed(stack: Stack, machine: Machine, hostname: str) -> str:
    """The server's view after the install, then the disk boot's console."""
    host, events = stack.host(machine.mac)
    assert host.state is HostState.INSTALLED, (host, [e.kind for e in events])
    kinds = [e.kind for e in events]
    assert "start" in kinds and kinds[-1] == "finish", kinds
    console, seconds = machine.boot_disk(DISK_BOOT_TIMEOUT)
    lines = marker_lines(console)
    assert f"{MARKER} hostname={hostname}" in lines, "\n".join(lines) or console[-3000:]
    assert "provision-live" not in console  # the disk alone
    print(f"{machine.name}: disk boot to marker {seconds:.1f} s")
    return console


def test_http_boot_uefi(stack: Stack) -> None:
    mac, hostname = "52:54:00:f1:8e:11", "e2e-http-boot"
    stack.register(mac, hostname)
    machine = Machine(stack, "http-boot-uefi", mac, "uefi", "http")
    try:
        vm, seconds = machine.install(INSTALL_TIMEOUT)
        console = vm.text()
        assert "Start HTTP Boot over IPv4" in console
        assert f"URI: {BASE_URL}/boot/http/ipxe.efi" in console
        assert f"provision-install: fetching {BASE_URL}/api/v1/hosts/{mac}/config" in console
        print(f"http-boot-uefi: power-on to installed {seconds:.1f} s")
        # no TFTP on the lab network: nothing listens on UDP 69, dnsmasq sent no TFTP name
        assert ":69 " not in stack.lab.run(["ss", "-uln"])
        log = (stack.data / "dnsmasq.log").read_text()
        assert "vendor class: HTTPClient:Arch:00016" in log
        assert "ipxe.efi\n" not in log.replace(f"{BASE_URL}/boot/http/ipxe.efi", "")
        _, events = stack.host(mac)
        # the server saw the HTTP boot (the download of ipxe.efi, then iPXE's script request)
        boots = [e for e in events if e.kind is EventKind.BOOT]
        assert boots[0].step == "http" and "ipxe.efi" in boots[0].message, boots
        booted = last_boot(events)  # ... and the live environment read the firmware's record
        assert booted is not None
        assert (booted[0].path, booted[0].firmware, booted[0].secure_boot) == (
            BootPath.HTTP, "uefi", False,
        ), booted  # fmt: skip
        check_installed(stack, machine, hostname)
    except BaseException:
        kept(machine)
        raise


@pytest.fixture(scope="module")
def sb_machine(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    """A Secure Boot machine that trusts the server's key installed vm-amd64-sb from the ISO."""
    work = tmp_path_factory.mktemp("sb-vars")
    cert = stack.data / "keys" / "secureboot" / "db.crt"  # made by the builder on first use
    assert cert.is_file()
    enrolled = fw.vars_with_cert(cert, work / "OVMF_VARS.ms+provision.fd")
    mac, hostname = "52:54:00:f1:8e:12", "e2e-secureboot"
    iso = work / "sb.iso"
    res = provision(
        stack.data, "iso", SB_PROFILE, "--host", mac, "--hostname", hostname,
        "--server", BASE_URL, "--timeout", "1", "--uefi", "signed", "-o", str(iso),
    )  # fmt: skip
    assert iso.is_file(), res.stdout + res.stderr
    machine = Machine(
        stack, "secureboot-installed", mac, "uefi-sb", "iso", iso=iso, vars_template=enrolled
    )
    try:
        vm, seconds = machine.install(INSTALL_TIMEOUT)
        print(f"secureboot-installed: power-on to installed {seconds:.1f} s")
        assert "EFI stub: UEFI Secure Boot is enabled." in vm.text()  # the live environment
    except BaseException:
        kept(machine)
        raise
    yield machine


def test_secureboot_installed(stack: Stack, sb_machine: Machine) -> None:
    machine = sb_machine
    try:
        _, events = stack.host(machine.mac)
        booted = last_boot(events)
        assert booted is not None  # the live environment read the firmware's variables
        assert (booted[0].path, booted[0].secure_boot) == (BootPath.ISO, True), booted
        esp = esp_files(machine.disk)
        shim = Path("/usr/lib/shim/shimx64.efi.signed").read_bytes()
        assert esp["EFI/BOOT/BOOTX64.EFI"] == shim
        assert pe.signatures(esp["EFI/BOOT/grubx64.efi"]) == 1  # signed once: by our key
        # the installed kernel carries one signature: the server's (Debian's was removed)
        kernel = installed_file(machine.disk, "/boot/vmlinuz-6.1.0-demo", machine.work)
        assert pe.signatures(kernel.read_bytes()) == 1
        cert = stack.data / "keys" / "secureboot" / "db.crt"
        assert (
            "Signature verification OK"
            in run(["sbverify", "--cert", str(cert), str(kernel)]).stdout
        )
        console = check_installed(stack, machine, "e2e-secureboot")
        assert "secureboot: Secure boot enabled" in console  # the kernel read SecureBoot
        assert "Kernel is locked down from EFI Secure Boot" in console
        lines = marker_lines(console)
        assert f"{MARKER} lockdown=none [integrity] confidentiality" in lines, lines
        assert "vmlinuz-6.1.0-demo" in console  # the kernel from the binhost, signed by us
    except BaseException:
        kept(machine)
        raise


def test_secureboot_installed_with_the_key_in_mok(
    stack: Stack, sb_machine: Machine, tmp_path: Path
) -> None:
    """The route for real machines without a firmware menu: the certificate in shim's MOK list
    (what MokManager's "Enroll key from disk" or `mokutil --import` does) instead of db."""
    cert = stack.data / "keys" / "secureboot" / "db.crt"
    mok = fw.vars_with_cert(cert, tmp_path / "OVMF_VARS.ms+mok.fd", mok=True)
    console, seconds = sb_machine.boot_disk_elsewhere(mok, f"{MARKER} done", DISK_BOOT_TIMEOUT)
    assert "secureboot: Secure boot enabled" in console
    assert f"{MARKER} hostname=e2e-secureboot" in marker_lines(console)
    print(f"secureboot-installed (MOK): disk boot to marker {seconds:.1f} s")


def test_secureboot_installed_refused_without_the_key(sb_machine: Machine) -> None:
    """Microsoft's keys only (no server certificate): shim refuses our GRUB."""
    console, seconds = sb_machine.boot_disk_elsewhere(
        fw.OVMF_MS_VARS, r"Verification failed: \(0x1A\) Security Violation", 120
    )
    assert "vmlinuz-6.1.0-demo" not in console and MARKER not in console
    print(f"secureboot-installed-refused: refusal after {seconds:.1f} s")


def partitions(disk: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(run(["sfdisk", "--json", str(disk)]).stdout)[
        "partitiontable"
    ]["partitions"]
    return found


def installed_file(disk: Path, path: str, work: Path) -> Path:
    """A file of the installed root file system (partition 2, ext4), read with debugfs."""
    part = partitions(disk)[1]
    start, size = int(str(part["start"])) * 512, int(str(part["size"])) * 512
    loop = run(
        ["losetup", "-r", "-f", "--show", "-o", str(start), "--sizelimit", str(size), str(disk)]
    ).stdout.strip()
    out = work / Path(path).name
    try:
        run(["debugfs", "-R", f"dump {path} {out}", loop])
    finally:
        run(["losetup", "-d", loop], check=False)
    assert out.is_file() and out.stat().st_size > 0, f"{path} not found on {disk}"
    return out


def esp_files(disk: Path) -> dict[str, bytes]:
    """The ESP's EFI/BOOT files of an installed disk image (partition 1), read with mtools."""
    offset = int(str(partitions(disk)[0]["start"])) * 512
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("BOOTX64.EFI", "grubx64.efi", "grub.cfg", "provision-db.der"):
            run(
                ["mcopy", "-i", f"{disk}@@{offset}", f"::/EFI/BOOT/{name}", f"{tmp}/{name}"],
                extra_env={"MTOOLS_SKIP_CHECK": "1"},
            )
            out[f"EFI/BOOT/{name}"] = Path(tmp, name).read_bytes()
    return out
