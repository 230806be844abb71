"""dnsmasq config rendering and validation (pure), and the CLI's --print."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.cli import main
from provision.errors import ConfigError
from provision.pxe.dnsmasq import (
    RESPONDER_NAME,
    DhcpConfig,
    HttpBoot,
    Mode,
    ResponderSettings,
    dnsmasq_argv,
    load_responder_settings,
    render_config,
    write_config,
)

BASE = "http://192.0.2.1:8080"


def full(**kw: object) -> DhcpConfig:
    values: dict[str, object] = dict(range_start="192.0.2.50", range_end="192.0.2.100")
    values.update(kw)
    return DhcpConfig(Mode.FULL, "br0", "192.0.2.1", BASE, "192.0.2.0/24", **values)  # type: ignore[arg-type]


def proxy(**kw: object) -> DhcpConfig:
    return DhcpConfig(Mode.PROXY, "br0", "192.0.2.1", BASE, "192.0.2.0/24", **kw)  # type: ignore[arg-type]


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
        "# UEFI HTTP boot: vendor class HTTPClient, client architecture 16 (x86-64 UEFI HTTP)\n"
        "dhcp-match=set:efihttp,option:client-arch,16\n"
        "dhcp-vendorclass=set:httpclient,HTTPClient\n"
        "# iPXE itself (user class iPXE) gets the HTTP chain script: no chainload loop\n"
        "dhcp-userclass=set:ipxe,iPXE\n"
        "dhcp-boot=tag:ipxe,http://192.0.2.1:8080/boot/boot.ipxe\n"
        "dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,192.0.2.1\n"
        "dhcp-boot=tag:!ipxe,tag:!efi64,tag:!httpclient,undionly.kpxe,,192.0.2.1\n"
        "# HTTP boot clients: the URL, and option 60 HTTPClient echoed (no TFTP at all)\n"
        "dhcp-option-force=tag:httpclient,tag:efihttp,tag:!ipxe,option:vendor-class,HTTPClient\n"
        "dhcp-boot=tag:httpclient,tag:efihttp,tag:!ipxe,"
        "http://192.0.2.1:8080/boot/http/ipxe.efi\n"
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


def test_http_boot_choices() -> None:
    iso = render_config(full(http_boot=HttpBoot.ISO)).splitlines()
    assert (
        "dhcp-boot=tag:httpclient,tag:efihttp,tag:!ipxe,http://192.0.2.1:8080/boot/http/live.iso"
        in iso
    )
    off = render_config(full(http_boot=HttpBoot.OFF))
    assert "HTTPClient" in off  # the tag is still set (the BIOS rule excludes such clients)
    assert "dhcp-option-force" not in off and "/boot/http/" not in off


def test_proxy_mode_leaves_http_boot_to_the_responder(tmp_path: Path) -> None:
    text = render_config(proxy())
    assert "dhcp-option-force" not in text and "dhcp-boot=tag:httpclient" not in text
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("http://192.0.2.1:8080/boot/http/ipxe.efi" in line for line in comments)
    write_config(tmp_path, proxy())
    assert load_responder_settings(tmp_path) == ResponderSettings(
        "br0", "192.0.2.1", "http://192.0.2.1:8080/boot/http/ipxe.efi"
    )
    write_config(tmp_path, proxy(http_boot=HttpBoot.OFF))  # off: the settings file goes
    assert load_responder_settings(tmp_path) is None
    write_config(tmp_path, proxy())
    write_config(tmp_path, full())  # dnsmasq answers in full mode itself
    assert not (tmp_path / RESPONDER_NAME).exists()


def test_bad_responder_settings(tmp_path: Path) -> None:
    (tmp_path / RESPONDER_NAME).write_text('{"interface": "br0", "server_ip": "x", "url": "u"}')
    with pytest.raises(ConfigError, match="not an IPv4 address"):
        load_responder_settings(tmp_path)
    (tmp_path / RESPONDER_NAME).write_text("[")
    with pytest.raises(ConfigError, match="not valid HTTP boot responder settings"):
        load_responder_settings(tmp_path)


def test_pxelinux_mode() -> None:
    lines = render_config(full(bios_loader="pxelinux.0")).splitlines()
    # every BIOS client gets pxelinux.0 (also QEMU's iPXE ROM, user class iPXE); iPXE on UEFI
    # still gets the HTTP chain; the rules exclude each other
    assert "dhcp-boot=tag:!efi64,tag:!httpclient,pxelinux.0,,192.0.2.1" in lines
    assert "dhcp-boot=tag:ipxe,tag:efi64,http://192.0.2.1:8080/boot/boot.ipxe" in lines
    plines = render_config(proxy(bios_loader="pxelinux.0")).splitlines()
    assert 'pxe-service=x86PC,"provision (BIOS pxelinux)",pxelinux.0,192.0.2.1' in plines


def test_secure_boot_pxe_is_full_mode_only() -> None:
    lines = render_config(full(uefi_loader="shimx64.efi")).splitlines()
    assert "dhcp-boot=tag:!ipxe,tag:efi64,shimx64.efi,,192.0.2.1" in lines
    with pytest.raises(ConfigError, match="needs --mode full"):
        proxy(uefi_loader="shimx64.efi")
    with pytest.raises(ConfigError, match="one of"):
        full(uefi_loader="grubx64.efi")


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
