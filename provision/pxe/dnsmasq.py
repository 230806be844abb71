"""dnsmasq as the network-boot DHCP service: config rendering (pure), argv, and a runner.

Two modes:
- proxy: beside an existing DHCP server (the usual office).  dnsmasq hands out no addresses,
  only the boot information (proxyDHCP, PXE boot-server on port 4011).
- full: an isolated lab network where dnsmasq is the DHCP server.

In both, the client architecture (option 93: 0 BIOS, 7/9 x86-64 UEFI) picks iPXE for BIOS or
UEFI from our TFTP server, and a client whose user class is "iPXE" gets the HTTP chain script
instead, which ends the chainload loop.  DNS is off (port=0) and dnsmasq's own TFTP is off: our
TFTP server (pxe.tftp) serves the files.

UEFI HTTP boot clients (vendor class "HTTPClient", client architecture 16) get an http:// URL
with option 60 "HTTPClient" echoed (without it the firmware treats the offer as address-only)
and need no TFTP at all: iPXE (`HttpBoot.IPXE`) or the Secure Boot live ISO
(`HttpBoot.ISO`).  dnsmasq answers them in full mode; in proxy mode it only ever answers
"PXEClient", so provision's own responder (pxe.httpboot) answers them beside it, with the
settings `write_config` leaves in DATA_DIR/httpboot.json.

Other loaders: BIOS `pxelinux.0` (every BIOS client gets it, even one whose ROM is iPXE: pxelinux
then hands over to iPXE with a script, which does not ask DHCP for a file name again) and UEFI
`shimx64.efi` (Secure Boot: Microsoft-signed shim → Debian-signed GRUB → signed kernel over
TFTP; full mode only, because GRUB takes the TFTP server from the DHCP ACK, not from a proxy
offer).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.run import Result, Spawned, run, spawn

CONFIG_NAME = "dnsmasq-pxe.conf"
LEASE_NAME = "dnsmasq.leases"
RESPONDER_NAME = "httpboot.json"  # proxy mode: the HTTP boot responder's settings
BIOS_LOADERS = ("undionly.kpxe", "pxelinux.0")
UEFI_LOADERS = ("ipxe.efi", "snponly.efi", "shimx64.efi")
SHIM = "shimx64.efi"
_IFACE = re.compile(r"[A-Za-z0-9_.:-]{1,15}\Z")
_LEASE = re.compile(r"(infinite|\d+[mhd]?)\Z")
_FILE = re.compile(r"[A-Za-z0-9._/-]+\Z")
_URL = re.compile(r"https?://[A-Za-z0-9._~:/\[\]@%+-]+\Z")


class Mode(StrEnum):
    PROXY = "proxy"
    FULL = "full"


class HttpBoot(StrEnum):
    """What UEFI HTTP boot clients get."""

    IPXE = "ipxe"  # ipxe.efi over HTTP, then the usual iPXE chain (Secure Boot off)
    ISO = "iso"  # the live ISO over HTTP (RAM disk): shim → signed GRUB → kernel (Secure Boot)
    OFF = "off"  # no answer to HTTP boot clients

    @property
    def path(self) -> str:
        """Where the server serves it (provision.server.routes.boot)."""
        return {"ipxe": "/boot/http/ipxe.efi", "iso": "/boot/http/live.iso", "off": ""}[self.value]


@dataclass(frozen=True)
class DhcpConfig:
    """Everything the dnsmasq config needs; validated on construction."""

    mode: Mode
    interface: str
    server_ip: str  # our TFTP server (next-server / PXE boot server)
    base_url: str  # our HTTP server, as clients reach it
    network: str  # e.g. 192.0.2.0/24: the subnet served (proxy) or the range's subnet (full)
    range_start: str = ""  # full mode only
    range_end: str = ""
    lease_time: str = "1h"
    router: str = ""  # full mode: default gateway handed out (none if empty)
    bios_loader: str = "undionly.kpxe"
    uefi_loader: str = "ipxe.efi"
    lease_file: str = ""
    http_boot: HttpBoot = HttpBoot.IPXE

    def __post_init__(self) -> None:
        if not isinstance(self.mode, Mode) or not isinstance(self.http_boot, HttpBoot):
            raise TypeError("DhcpConfig: mode and http_boot are Mode and HttpBoot values")
        if not _IFACE.match(self.interface):
            raise ConfigError("interface", f"{self.interface!r} is not an interface name")
        net = _network(self.network)
        _address("server_ip", self.server_ip)
        if not _URL.match(self.base_url):
            raise ConfigError("base_url", f"{self.base_url!r} is not an http(s):// URL")
        for field in ("bios_loader", "uefi_loader"):
            value = getattr(self, field)
            if not _FILE.match(value) or ".." in value.split("/"):
                raise ConfigError(field, f"{value!r} is not a TFTP file name")
        if self.bios_loader not in BIOS_LOADERS:
            raise ConfigError("bios_loader", f"{self.bios_loader!r}: one of {BIOS_LOADERS}")
        if self.uefi_loader not in UEFI_LOADERS:
            raise ConfigError("uefi_loader", f"{self.uefi_loader!r}: one of {UEFI_LOADERS}")
        if self.uefi_loader == SHIM and self.mode is Mode.PROXY:
            raise ConfigError(
                "uefi_loader",
                "Secure Boot over PXE (shimx64.efi) needs --mode full: Debian's network GRUB "
                "asks the DHCP server that gave the address for its files, not the proxy; in "
                "proxy mode boot Secure Boot machines by HTTP boot (--http-boot iso)",
            )
        if self.mode is Mode.FULL:
            if not self.range_start or not self.range_end:
                raise ConfigError("range", "full DHCP mode needs a range (--range FIRST,LAST)")
            first = _address("range", self.range_start)
            last = _address("range", self.range_end)
            if first not in net or last not in net or int(last) < int(first):
                raise ConfigError(
                    "range", f"{self.range_start}-{self.range_end} is not a range inside {net}"
                )
            if not _LEASE.match(self.lease_time):
                raise ConfigError("lease_time", f"{self.lease_time!r} (allowed: 1h, 30m, ...)")
            if self.router:
                _address("router", self.router)
        elif self.range_start or self.range_end or self.router:
            raise ConfigError(
                "range", "proxy mode hands out no addresses: range and router are for --mode full"
            )


def _address(field: str, value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ConfigError(field, f"{value!r} is not an IPv4 address") from exc


def _network(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError as exc:
        raise ConfigError("network", f"{value!r} is not an IPv4 network (a.b.c.d/len)") from exc


def http_boot_url(cfg: DhcpConfig) -> str:
    """The URL HTTP boot clients get ("" when HTTP boot is off)."""
    return cfg.base_url.rstrip("/") + cfg.http_boot.path if cfg.http_boot.path else ""


def render_config(cfg: DhcpConfig) -> str:
    """The dnsmasq configuration file (pure)."""
    net = _network(cfg.network)
    chain_url = cfg.base_url.rstrip("/") + "/boot/boot.ipxe"
    pxelinux = cfg.bios_loader == "pxelinux.0"
    lines = [
        f"# provision: dnsmasq for network boot ({cfg.mode.value} DHCP mode); generated",
        "port=0",  # no DNS
        f"interface={cfg.interface}",
        "bind-interfaces",
        "log-dhcp",
        "log-facility=-",
        "pid-file=",
    ]
    if cfg.lease_file:
        lines.append(f"dhcp-leasefile={cfg.lease_file}")
    if cfg.mode is Mode.FULL:
        lines += [
            "dhcp-authoritative",
            f"dhcp-range={cfg.range_start},{cfg.range_end},{net.netmask},{cfg.lease_time}",
        ]
        if cfg.router:
            lines.append(f"dhcp-option=option:router,{cfg.router}")
    else:
        lines.append(f"dhcp-range={net.network_address},proxy,{net.netmask}")
    lines += [
        "# client architecture (option 93): 7 and 9 are x86-64 UEFI, 0 is BIOS",
        "dhcp-match=set:efi64,option:client-arch,7",
        "dhcp-match=set:efi64,option:client-arch,9",
        "# UEFI HTTP boot: vendor class HTTPClient, client architecture 16 (x86-64 UEFI HTTP)",
        "dhcp-match=set:efihttp,option:client-arch,16",
        "dhcp-vendorclass=set:httpclient,HTTPClient",
        "# iPXE itself (user class iPXE) gets the HTTP chain script: no chainload loop",
        "dhcp-userclass=set:ipxe,iPXE",
    ]
    if pxelinux:
        lines += [
            "# pxelinux: every BIOS client gets pxelinux.0, also an iPXE ROM (pxelinux hands",
            "# over to iPXE with a script that goes straight to the HTTP chain)",
            f"dhcp-boot=tag:ipxe,tag:efi64,{chain_url}",
        ]
    else:
        lines.append(f"dhcp-boot=tag:ipxe,{chain_url}")
    if cfg.mode is Mode.FULL:
        if cfg.uefi_loader == SHIM:
            lines.append("# Secure Boot: shim, then Debian's signed network GRUB (grubx64.efi)")
        lines.append(f"dhcp-boot=tag:!ipxe,tag:efi64,{cfg.uefi_loader},,{cfg.server_ip}")
        bios_tags = (
            "tag:!efi64,tag:!httpclient" if pxelinux else "tag:!ipxe,tag:!efi64,tag:!httpclient"
        )
        lines.append(f"dhcp-boot={bios_tags},{cfg.bios_loader},,{cfg.server_ip}")
        url = http_boot_url(cfg)
        if url:
            lines += [
                "# HTTP boot clients: the URL, and option 60 HTTPClient echoed (no TFTP at all)",
                "dhcp-option-force=tag:httpclient,tag:efihttp,tag:!ipxe,"
                "option:vendor-class,HTTPClient",
                f"dhcp-boot=tag:httpclient,tag:efihttp,tag:!ipxe,{url}",
            ]
    else:
        # proxyDHCP: PXE boot-server replies; a file name with a suffix gets no ".0" added.
        bios_tag = "" if pxelinux else "tag:!ipxe,"
        bios_name = "provision (BIOS pxelinux)" if pxelinux else "provision (BIOS)"
        lines += [
            f'pxe-service={bios_tag}x86PC,"{bios_name}",{cfg.bios_loader},{cfg.server_ip}',
            f'pxe-service=tag:!ipxe,X86-64_EFI,"provision (UEFI)",{cfg.uefi_loader},'
            f"{cfg.server_ip}",
            f'pxe-service=tag:!ipxe,BC_EFI,"provision (UEFI)",{cfg.uefi_loader},{cfg.server_ip}',
        ]
        if cfg.http_boot is not HttpBoot.OFF:
            lines += [
                "# HTTP boot clients (HTTPClient) get no proxy answer from dnsmasq: provision's",
                f"# HTTP boot responder answers them with {http_boot_url(cfg)}",
            ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ResponderSettings:
    """What the proxy-mode HTTP boot responder needs (DATA_DIR/httpboot.json)."""

    interface: str
    server_ip: str
    url: str

    def __post_init__(self) -> None:
        if not _IFACE.match(self.interface):
            raise ConfigError("interface", f"{self.interface!r} is not an interface name")
        _address("server_ip", self.server_ip)
        url = self.url_for("00:00:00:00:00:00")
        if not _URL.match(url) or not url.startswith("http://") or len(url) > 255:
            raise ConfigError("url", f"{self.url!r} is not an http:// URL (at most 255 bytes)")

    def url_for(self, mac: str) -> str:
        """The URL for one client: {mac} in the URL becomes its MAC (aa-bb-cc-dd-ee-ff)."""
        return self.url.replace("{mac}", mac.replace(":", "-"))


def responder_settings(cfg: DhcpConfig) -> ResponderSettings | None:
    """Proxy mode with HTTP boot on: the responder's settings; otherwise None (dnsmasq does
    it all)."""
    if cfg.mode is not Mode.PROXY or cfg.http_boot is HttpBoot.OFF:
        return None
    url = http_boot_url(cfg)
    if cfg.http_boot is HttpBoot.ISO:  # the per-host ISO: the responder knows the MAC
        url = cfg.base_url.rstrip("/") + "/boot/http/{mac}/live.iso"
    return ResponderSettings(cfg.interface, cfg.server_ip, url)


def load_responder_settings(data_dir: Path) -> ResponderSettings | None:
    path = data_dir / RESPONDER_NAME
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        return ResponderSettings(str(doc["interface"]), str(doc["server_ip"]), str(doc["url"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(str(path), f"not valid HTTP boot responder settings: {exc}") from exc


def dnsmasq_argv(config_path: Path, binary: str = "dnsmasq") -> list[str]:
    """Run dnsmasq in the foreground on our config file only (not /etc/dnsmasq.conf)."""
    return [binary, "--no-daemon", f"--conf-file={config_path}"]


def write_config(data_dir: Path, cfg: DhcpConfig) -> Path:
    """Write the config into the data dir (its lease file there too, unless one is set)."""
    if not cfg.lease_file:
        cfg = replace(cfg, lease_file=str(data_dir.resolve() / LEASE_NAME))
    path = data_dir / CONFIG_NAME
    write_atomic(path, render_config(cfg))
    responder = responder_settings(cfg)
    if responder is None:
        (data_dir / RESPONDER_NAME).unlink(missing_ok=True)
    else:
        write_atomic(
            data_dir / RESPONDER_NAME,
            json.dumps(
                {"interface": responder.interface, "server_ip": responder.server_ip,
                 "url": responder.url}, indent=1,
            ) + "\n",
        )  # fmt: skip
    return path


def check_config(config_path: Path, binary: str = "dnsmasq") -> Result:
    """`dnsmasq --test`: the config parses (CommandError otherwise)."""
    return run([binary, "--test", f"--conf-file={config_path}"], timeout=30)


def run_dnsmasq(config_path: Path, log_path: Path, binary: str = "dnsmasq") -> Result:
    """Run dnsmasq in the foreground until it exits; its log is appended to log_path."""
    check_config(config_path, binary)
    return run(dnsmasq_argv(config_path, binary), timeout=None, log_path=log_path)


def spawn_dnsmasq(config_path: Path, log_path: Path, binary: str = "dnsmasq") -> Spawned:
    """Start dnsmasq in the foreground as a child (stop() ends it); its log goes to log_path."""
    check_config(config_path, binary)
    return spawn(dnsmasq_argv(config_path, binary), log_path=log_path)
