"""dnsmasq config rendering and validation (pure), and the CLI's --print."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.cli import main
from provision.errors import ConfigError
from provision.pxe.dnsmasq import DhcpConfig, Mode, dnsmasq_argv, render_config, write_config

BASE = "http://192.0.2.1:8080"


def full(**kw: str) -> DhcpConfig:
    values = dict(range_start="192.0.2.50", range_end="192.0.2.100")
    values.update(kw)
    return DhcpConfig(Mode.FULL, "br0", "192.0.2.1", BASE, "192.0.2.0/24", **values)


def test_full_mode() -> None:
    assert render_config(full(router="192.0.2.254")) == (
        "# provision: dnsmasq for network boot (full DHCP mode); generated\n"
        "port=0\ninterface=br0\nbind-interfaces\nlog-dhcp\nlog-facility=-\npid-file=\n"
        "dhcp-authoritative\n"
        "dhcp-range=192.0.2.50,192.0.2.100,255.255.255.0,1h\n"
        "dhcp-option=option:router,192.0.2.254\n"
        "# client architecture (option 93): 7 and 9 are x86-64 UEFI, 0 is BIOS\n"
        "dhcp-match=set:efi64,option:client-arch,7\n"
        "dhcp-match=set:efi64,option:client-arch,9\n"
        "# iPXE itself (user class iPXE) gets the HTTP chain script: no chainload loop\n"
        "dhcp-userclass=set:ipxe,iPXE\n"
        "dhcp-boot=tag:ipxe,http://192.0.2.1:8080/boot/boot.ipxe\n"
        "dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,192.0.2.1\n"
        "dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,192.0.2.1\n"
    )


def test_proxy_mode() -> None:
    cfg = DhcpConfig(
        Mode.PROXY, "eth0", "10.1.2.3", "http://10.1.2.3:8080", "10.1.0.0/16",
        uefi_loader="snponly.efi",
    )  # fmt: skip
    lines = render_config(cfg).splitlines()
    assert "dhcp-range=10.1.0.0,proxy,255.255.0.0" in lines
    assert not any(line.startswith(("dhcp-authoritative", "dhcp-option")) for line in lines)
    assert 'pxe-service=tag:!ipxe,x86PC,"provision (BIOS)",undionly.kpxe,10.1.2.3' in lines
    assert 'pxe-service=tag:!ipxe,X86-64_EFI,"provision (UEFI)",snponly.efi,10.1.2.3' in lines
    assert 'pxe-service=tag:!ipxe,BC_EFI,"provision (UEFI)",snponly.efi,10.1.2.3' in lines
    assert "dhcp-boot=tag:ipxe,http://10.1.2.3:8080/boot/boot.ipxe" in lines


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: full(range_start=""), "full DHCP mode needs a range", id="no-range"),
        pytest.param(lambda: full(range_end="10.0.0.9"), "is not a range inside", id="outside"),
        pytest.param(
            lambda: full(range_start="192.0.2.100", range_end="192.0.2.50"),
            "is not a range inside",
            id="reversed",
        ),
        pytest.param(lambda: full(lease_time="forever"), "allowed: 1h", id="lease"),
        pytest.param(lambda: full(router="gw"), "not an IPv4 address", id="router"),
        pytest.param(lambda: full(bios_loader="../x"), "not a TFTP file name", id="loader"),
        pytest.param(
            lambda: DhcpConfig(Mode.FULL, "br0; rm", "192.0.2.1", BASE, "192.0.2.0/24"),
            "not an interface name",
            id="interface",
        ),
        pytest.param(
            lambda: DhcpConfig(
                Mode.PROXY, "br0", "192.0.2.1", BASE, "192.0.2.0/24", router="1.1.1.1"
            ),
            "proxy mode hands out no addresses",
            id="proxy-router",
        ),
        pytest.param(
            lambda: DhcpConfig(Mode.PROXY, "br0", "192.0.2.1", "http://x y", "192.0.2.0/24"),
            "not an http",
            id="url",
        ),
        pytest.param(
            lambda: DhcpConfig(Mode.PROXY, "br0", "192.0.2.1", BASE, "lan"),
            "not an IPv4 network",
            id="network",
        ),
    ],
)
def test_invalid(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]


def test_write_config_keeps_leases_in_data_dir(tmp_path: Path) -> None:
    path = write_config(tmp_path, full())
    assert f"dhcp-leasefile={tmp_path.resolve() / 'dnsmasq.leases'}" in path.read_text()
    assert dnsmasq_argv(path) == ["dnsmasq", "--no-daemon", f"--conf-file={path}"]


def test_cli_print(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["dhcp", "--mode", "full", "--interface", "br0", "--server-ip", "192.0.2.1",
         "--network", "192.0.2.0/24", "--range", "192.0.2.50,192.0.2.60", "--print"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert out == render_config(full(range_end="192.0.2.60"))


def test_cli_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["dhcp", "--mode", "proxy", "--interface", "br0", "--server-ip", "192.0.2.1",
         "--network", "192.0.2.0/24", "--range", "192.0.2.50,192.0.2.60", "--print"]
    )  # fmt: skip
    assert rc == 2
    assert capsys.readouterr().err.startswith("provision: error: range: proxy mode hands out")
