"""PXE boot of QEMU guests (TCG) through our dnsmasq config, TFTP server and HTTP boot script.

Each test makes its own network namespace (tests/vm/netns.py) and runs, inside it, the real
entry points: `provision dhcp`'s config in dnsmasq, `provision tftp`, `provision serve`.  The
guest boots the marker live system, which prints the provision.* kernel arguments it got.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.hosts import HostState
from provision.live.initramfs import MARKER, make_marker_bootkit
from provision.pxe import dnsmasq
from provision.pxe.bootloaders import find_all
from provision.pxe.layout import plan_tree, write_tree
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.vm.netns import SERVER_IP, Daemon, Lab, Qemu

pytestmark = pytest.mark.vm

BASE_URL = f"http://{SERVER_IP}:8080"
SECRET = "pxe-test-secret-0123456789"


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    live = tmp_path_factory.mktemp("pxe-live")
    make_marker_bootkit(live)
    return live


@dataclass
class Stack:
    lab: Lab
    data: Path
    tftp: Daemon
    http: Daemon
    dhcp: Daemon

    def store(self) -> Store:
        return Store.in_data_dir(self.data)


def provision_argv(data: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "provision", "--data-dir", str(data),
        "--profiles-dir", str(PROFILES), *args,
    ]  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path, live_dir: Path) -> Path:
    data = tmp_path / "data"
    (data / "live").mkdir(parents=True)
    for name in ("vmlinuz", "initrd.img"):
        (data / "live" / name).symlink_to(live_dir / name)
    (data / "tftp").mkdir()
    write_tree(data / "tftp", plan_tree(find_all(), BASE_URL))
    return data


def start_stack(lab: Lab, data: Path, mode: dnsmasq.Mode) -> Stack:
    """Our three services inside the lab namespace; in proxy mode also an "office" DHCP."""
    env = {"PROVISION_SECRET_KEY": SECRET}
    tftp = lab.start(
        "tftp",
        provision_argv(
            data, "tftp", "--listen", f"{SERVER_IP}:69", "--log", str(data / "tftp.log")
        ),
        ready="TFTP serving",
    )
    http = lab.start(
        "http",
        provision_argv(data, "serve", "--listen", f"{SERVER_IP}:8080", "--base-url", BASE_URL),
        env=env,
    )
    lab.wait_http(f"{BASE_URL}/healthz")
    if mode is dnsmasq.Mode.PROXY:
        office = lab.add_peer("2")
        lab.start(
            "office-dhcp",
            ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0",
             "--bind-interfaces", "--dhcp-range=192.0.2.150,192.0.2.200,1h", "--pid-file=",
             f"--dhcp-leasefile={lab.work / 'office.leases'}", "--log-dhcp", "--log-facility=-"],
            netns=office, ready="started, version",
        )  # fmt: skip
        cfg = dnsmasq.DhcpConfig(dnsmasq.Mode.PROXY, "br0", SERVER_IP, BASE_URL, "192.0.2.0/24")
    else:
        cfg = dnsmasq.DhcpConfig(
            dnsmasq.Mode.FULL, "br0", SERVER_IP, BASE_URL, "192.0.2.0/24",
            range_start="192.0.2.50", range_end="192.0.2.100",
        )  # fmt: skip
    conf = dnsmasq.write_config(data, cfg)
    dhcp = lab.start("dhcp", dnsmasq.dnsmasq_argv(conf), ready="started, version")
    return Stack(lab, data, tftp, http, dhcp)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab.create(tmp_path, prefix="pxe") as made:
        yield made


def register(data: Path, mac: str, profile: str) -> str:
    store = Store.in_data_dir(data)
    try:
        return store.upsert_host(mac, profile=profile).token
    finally:
        store.close()


def assert_installer_booted(vm: Qemu, mac: str, profile: str, token: str) -> None:
    vm.wait_for(f"{MARKER} done", timeout=420)
    out = vm.text()
    assert f"{MARKER} provision.profile={profile}" in out
    assert f"{MARKER} provision.token={token}" in out
    assert f"{MARKER} provision.host={mac}" in out
    assert f"{MARKER} provision.server={BASE_URL}" in out


def test_bios_full_dhcp(lab: Lab, data_dir: Path) -> None:
    """SeaBIOS, dnsmasq as the lab's DHCP server: the NIC's iPXE ROM takes the HTTP chain."""
    mac = "52:54:00:5e:00:01"
    token = register(data_dir, mac, "desktop-amd64")
    stack = start_stack(lab, data_dir, dnsmasq.Mode.FULL)
    vm = Qemu.start(lab, lab.add_tap(), mac=mac, firmware="bios")
    assert_installer_booted(vm, mac, "desktop-amd64", token)
    assert vm.wait_exit(60) == 0  # the marker system powers off
    assert "user class: iPXE" in stack.dhcp.text()


def test_uefi_proxy_dhcp(lab: Lab, data_dir: Path) -> None:
    """OVMF beside an office DHCP server: our proxyDHCP → TFTP ipxe.efi → HTTP chain."""
    mac = "52:54:00:5e:00:02"
    token = register(data_dir, mac, "server-amd64")
    stack = start_stack(lab, data_dir, dnsmasq.Mode.PROXY)
    vm = Qemu.start(lab, lab.add_tap(), mac=mac, firmware="uefi", nic_rom=False)
    assert_installer_booted(vm, mac, "server-amd64", token)
    fetched = (data_dir / "tftp.log").read_text()
    assert "sent 'ipxe.efi'" in fetched, fetched
    assert "proxy" in stack.dhcp.text()


def test_boot_once_goes_local(lab: Lab, data_dir: Path, tmp_path: Path) -> None:
    """After the host is marked installed, its next network boot hands over to the disk."""
    mac = "52:54:00:5e:00:03"
    register(data_dir, mac, "desktop-amd64")
    store = Store.in_data_dir(data_dir)
    store.set_state(mac, HostState.INSTALLED)
    store.close()
    start_stack(lab, data_dir, dnsmasq.Mode.FULL)
    disk = tmp_path / "blank.img"
    disk.write_bytes(b"\0" * (4 << 20))
    vm = Qemu.start(lab, lab.add_tap(), mac=mac, firmware="bios", disk=disk)
    vm.wait_for(f"provision: {mac} is installed; booting from local disk", timeout=300)
    vm.wait_for("No bootable device", timeout=120)
    assert MARKER not in vm.text()
