"""Power-on → live marker on the boot paths of current hardware (QEMU TCG, OVMF / SeaBIOS).

The marker system (Debian's signed kernel + a busybox initrd) prints the provision.* kernel
arguments it got and what the firmware says: SecureBoot (efivarfs), BootCurrent and the boot
option it names, which provision.install.bootinfo turns into a boot path.

- secureboot-iso / secureboot-usb: `provision iso` (shim → Debian's signed GRUB → the signed
  kernel) as a CD and as a USB stick, OVMF with Microsoft's keys and Secure Boot enforced;
- secureboot-pxe: full DHCP mode, OVMF's own PXE → TFTP shimx64.efi → Debian's signed network
  GRUB → its per-host config from the server's TFTP (the store) → kernel + initrd by TFTP;
- secureboot-http-iso: proxy DHCP mode beside an "office" DHCP server: OVMF's UEFI HTTP boot
  gets its URL from provision's HTTP boot responder (dnsmasq does not answer HTTP clients in
  proxy mode) and boots the per-host Secure Boot ISO from a RAM disk; no TFTP;
- pxelinux-bios: SeaBIOS, the NIC's iPXE ROM as the PXE ROM → pxelinux.0 → ipxe.lkrn with
  pxelinux.ipxe → the per-host iPXE script → the marker.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.hosts import BootPath
from provision.live.initramfs import MARKER
from provision.pxe import dnsmasq
from provision.pxe.bootloaders import find_all
from provision.pxe.layout import find_ipxe_lkrn, plan_tree, write_tree
from provision.secureboot.files import live_chain
from provision.server.bootpaths import last_boot
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.iso_fixtures import iso_cli, make_data_dir
from tests.vm import firmware as fw
from tests.vm.netns import SERVER_IP, Daemon, Lab

pytestmark = [pytest.mark.vm, pytest.mark.timeout(900)]
BASE_URL = f"http://{SERVER_IP}:8080"
SECRET = "firmware-test-secret-0123456789"
PROFILE = "desktop-amd64"


@dataclass
class Stack:
    lab: Lab
    data: Path
    server: Daemon

    def register(self, mac: str) -> str:
        store = Store.in_data_dir(self.data)
        try:
            return store.upsert_host(mac, profile=PROFILE).token
        finally:
            store.close()

    def boot_path(self, mac: str) -> str:
        store = Store.in_data_dir(self.data)
        try:
            found = last_boot(store.events(mac))
        finally:
            store.close()
        return found[0].summary() if found else ""

    def boot(self, name: str, argv: list[str], timeout: float = 240) -> tuple[str, float]:
        """Power on until the marker system powers off; its console and the seconds taken."""
        start = time.monotonic()
        vm = self.lab.start(name, argv)
        vm.wait_for(f"{MARKER} done", timeout)
        vm.proc.wait(60)
        return vm.text(), time.monotonic() - start


def serve_argv(data: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "provision", "--data-dir", str(data), "--profiles-dir",
        str(PROFILES), "serve", "--listen", f"{SERVER_IP}:8080", "--base-url", BASE_URL,
        "--no-build", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The marker live kit, a public key, the TFTP tree with pxelinux and Secure Boot."""
    made = make_data_dir(tmp_path_factory.mktemp("fw") / "data")
    (made / "tftp").mkdir()
    plan = plan_tree(
        find_all(pxelinux=True),
        BASE_URL,
        ipxe_lkrn=find_ipxe_lkrn(),
        secure_boot=live_chain(network=True),
    )
    write_tree(made / "tftp", plan)
    return made


@pytest.fixture(scope="module")
def full(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Full DHCP mode: UEFI PXE gets shim, BIOS pxelinux; TFTP and HTTP from `provision serve`."""
    with Lab.create(tmp_path_factory.mktemp("fw-full"), prefix="fwf") as lab:
        cfg = dnsmasq.DhcpConfig(
            dnsmasq.Mode.FULL, "br0", SERVER_IP, BASE_URL, "192.0.2.0/24",
            range_start="192.0.2.50", range_end="192.0.2.100",
            uefi_loader="shimx64.efi", bios_loader="pxelinux.0",
        )  # fmt: skip
        dnsmasq.write_config(data, cfg)
        argv = serve_argv(data, "--tftp", f"{SERVER_IP}:69", "--dnsmasq")
        server = lab.start("server", argv, env={"PROVISION_SECRET_KEY": SECRET})
        lab.wait_http(f"{BASE_URL}/healthz", timeout=60)
        server.wait_for("dnsmasq running", timeout=30)
        yield Stack(lab, data, server)


@pytest.fixture(scope="module")
def secure_iso(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    iso = tmp_path_factory.mktemp("fw-iso") / "sb.iso"
    assert iso_cli(data, PROFILE, "--server", BASE_URL, "--uefi", "signed", "--timeout", "1",
                   "-o", str(iso)) == 0  # fmt: skip
    return iso


def assert_secure_boot(console: str) -> None:
    lines = fw.marker_lines(console)
    assert f"{MARKER} secureboot=1" in lines, console[-3000:]
    assert any(ln.startswith(f"{MARKER} lockdown") and "[integrity]" in ln for ln in lines)
    assert "EFI stub: UEFI Secure Boot is enabled." in console


@pytest.mark.parametrize(
    ("medium", "path"),
    [
        pytest.param("cd", BootPath.ISO, id="secureboot-iso"),
        pytest.param("usb", BootPath.USB, id="secureboot-usb"),
    ],
)
def test_secure_boot_medium(
    secure_iso: Path, tmp_path: Path, medium: str, path: BootPath, record_property: object
) -> None:
    from provision.run import run

    argv = [
        *fw.qemu(f"sb-{medium}"),
        *fw.ovmf(tmp_path / "vars.fd", secure_boot=True),
        *(fw.cdrom(secure_iso) if medium == "cd" else fw.usb(secure_iso)),
    ]
    start = time.monotonic()
    console = run(argv, timeout=240).stdout
    seconds = time.monotonic() - start
    assert f"{MARKER} done" in console, console[-3000:]
    assert_secure_boot(console)
    assert f"{MARKER} provision.profile={PROFILE}" in fw.marker_lines(console)
    info = fw.uefi_boot(console)
    assert (info.path, info.firmware, info.secure_boot) == (path, "uefi", True), info
    print(f"{medium}: power-on to marker {seconds:.1f} s")


def test_secureboot_pxe(full: Stack, tmp_path: Path) -> None:
    mac = "52:54:00:f1:8e:01"
    token = full.register(mac)
    argv = [
        *fw.qemu("sb-pxe"),
        *fw.ovmf(tmp_path / "vars.fd", secure_boot=True),
        *fw.nic(full.lab.add_tap(), mac, rom=False),
    ]
    console, seconds = full.boot("sb-pxe", argv)
    assert_secure_boot(console)
    lines = fw.marker_lines(console)
    assert f"{MARKER} provision.token={token}" in lines
    assert f"{MARKER} provision.host={mac}" in lines
    assert fw.uefi_boot(console).path is BootPath.PXE
    assert "provision: Install desktop-amd64 on" in console  # GRUB read its per-host config
    assert "Secure Boot on" in console  # ... and said so ($lockdown)
    assert full.boot_path(mac).startswith("PXE/TFTP")
    print(f"secureboot-pxe: power-on to marker {seconds:.1f} s")


def test_pxelinux_bios(full: Stack) -> None:
    mac = "52:54:00:f1:8e:02"
    token = full.register(mac)
    argv = [*fw.qemu("pxelinux"), *fw.nic(full.lab.add_tap(), mac, rom=True)]
    console, seconds = full.boot("pxelinux", argv, timeout=300)
    assert "PXELINUX" in console  # pxelinux.0 ran (loaded by the iPXE ROM as a PXE NBP)
    lines = fw.marker_lines(console)
    assert f"{MARKER} provision.token={token}" in lines
    assert f"{MARKER} firmware=bios" in lines
    assert "pxelinux.0" in (full.data / "dnsmasq.log").read_text()
    print(f"pxelinux-bios: power-on to marker {seconds:.1f} s")


def test_secureboot_http_iso_proxy_mode(data: Path, tmp_path: Path) -> None:
    """Proxy DHCP beside an office DHCP server; HTTP boot of the per-host Secure Boot ISO."""
    with Lab.create(tmp_path, prefix="fwp") as lab:
        office = lab.add_peer("2")
        lab.start(
            "office-dhcp",
            ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0",
             "--bind-interfaces", "--dhcp-range=192.0.2.150,192.0.2.200,1h", "--pid-file=",
             f"--dhcp-leasefile={lab.work / 'office.leases'}", "--log-dhcp", "--log-facility=-"],
            netns=office, ready="started, version",
        )  # fmt: skip
        cfg = dnsmasq.DhcpConfig(
            dnsmasq.Mode.PROXY, "br0", SERVER_IP, BASE_URL, "192.0.2.0/24",
            http_boot=dnsmasq.HttpBoot.ISO,
        )  # fmt: skip
        dnsmasq.write_config(data, cfg)
        try:
            server = lab.start(
                "server", serve_argv(data, "--dnsmasq"), env={"PROVISION_SECRET_KEY": SECRET}
            )
            lab.wait_http(f"{BASE_URL}/healthz", timeout=60)
            server.wait_for("answering HTTP boot clients", timeout=30)
            stack = Stack(lab, data, server)
            mac = "52:54:00:f1:8e:03"
            token = stack.register(mac)
            argv = [
                *fw.qemu("sb-http"),
                *fw.ovmf(tmp_path / "vars.fd", secure_boot=True),
                *fw.http_boot_first(),
                *fw.nic(lab.add_tap(), mac, rom=False),
            ]
            console, seconds = stack.boot("sb-http", argv)
        finally:
            (data / dnsmasq.RESPONDER_NAME).unlink(missing_ok=True)
        assert_secure_boot(console)
        assert f"{MARKER} provision.token={token}" in fw.marker_lines(console)
        info = fw.uefi_boot(console)
        assert (info.path, info.secure_boot) == (BootPath.HTTP, True), info
        assert f"/boot/http/{mac.replace(':', '-')}/live.iso" in console  # OVMF's URI line
        assert stack.boot_path(mac).startswith("UEFI HTTP boot")
        print(f"secureboot-http-iso (proxy): power-on to marker {seconds:.1f} s")
