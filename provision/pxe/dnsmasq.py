"""dnsmasq as the network-boot DHCP service: config rendering (pure), argv, and a runner.

Two modes:
- proxy: beside an existing DHCP server (the usual office).  dnsmasq hands out no addresses,
  only the boot information (proxyDHCP, PXE boot-server on port 4011).
- full: an isolated lab network where dnsmasq is the DHCP server.

In both, the client architecture (option 93: 0 BIOS, 7/9 x86-64 UEFI) picks iPXE for BIOS or
UEFI from our TFTP server, and a client whose user class is "iPXE" gets the HTTP chain script
instead, which ends the chainload loop.  DNS is off (port=0) and dnsmasq's own TFTP is off: our
TFTP server (pxe.tftp) serves the files.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.run import Result, Spawned, run, spawn

CONFIG_NAME = "dnsmasq-pxe.conf"
LEASE_NAME = "dnsmasq.leases"
_IFACE = re.compile(r"[A-Za-z0-9_.:-]{1,15}\Z")
_LEASE = re.compile(r"(infinite|\d+[mhd]?)\Z")
_FILE = re.compile(r"[A-Za-z0-9._/-]+\Z")
_URL = re.compile(r"https?://[A-Za-z0-9._~:/\[\]@%+-]+\Z")


class Mode(StrEnum):
    PROXY = "proxy"
    FULL = "full"


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

    def __post_init__(self) -> None:
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


def render_config(cfg: DhcpConfig) -> str:
    """The dnsmasq configuration file (pure)."""
    net = _network(cfg.network)
    chain_url = cfg.base_url.rstrip("/") + "/boot/boot.ipxe"
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
        "# iPXE itself (user class iPXE) gets the HTTP chain script: no chainload loop",
        "dhcp-userclass=set:ipxe,iPXE",
        f"dhcp-boot=tag:ipxe,{chain_url}",
    ]
    if cfg.mode is Mode.FULL:
        lines += [
            f"dhcp-boot=tag:!ipxe,tag:efi64,{cfg.uefi_loader},,{cfg.server_ip}",
            f"dhcp-boot=tag:!ipxe,tag:!efi64,{cfg.bios_loader},,{cfg.server_ip}",
        ]
    else:
        # proxyDHCP: PXE boot-server replies; a file name with a suffix gets no ".0" added.
        lines += [
            f'pxe-service=tag:!ipxe,x86PC,"provision (BIOS)",{cfg.bios_loader},{cfg.server_ip}',
            f'pxe-service=tag:!ipxe,X86-64_EFI,"provision (UEFI)",{cfg.uefi_loader},'
            f"{cfg.server_ip}",
            f'pxe-service=tag:!ipxe,BC_EFI,"provision (UEFI)",{cfg.uefi_loader},{cfg.server_ip}',
        ]
    return "\n".join(lines) + "\n"


def dnsmasq_argv(config_path: Path, binary: str = "dnsmasq") -> list[str]:
    """Run dnsmasq in the foreground on our config file only (not /etc/dnsmasq.conf)."""
    return [binary, "--no-daemon", f"--conf-file={config_path}"]


def write_config(data_dir: Path, cfg: DhcpConfig) -> Path:
    """Write the config into the data dir (its lease file there too, unless one is set)."""
    if not cfg.lease_file:
        cfg = replace(cfg, lease_file=str(data_dir.resolve() / LEASE_NAME))
    path = data_dir / CONFIG_NAME
    write_atomic(path, render_config(cfg))
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
