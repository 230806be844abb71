"""The host model every part shares (server store, PXE boot scripts, install media).

A host is known by its MAC address.  State: new → installing → installed | failed.
`boot_local` is the boot-once switch: set when a host finishes installing (its next network
boot goes to local disk), cleared when the admin asks for a reinstall.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from provision.names import check_hostname, normalize_mac

__all__ = [
    "BootInfo",
    "BootPath",
    "Event",
    "EventKind",
    "Host",
    "HostRegistry",
    "HostStamp",
    "HostState",
    "check_hostname",
    "host_stamp",
    "normalize_mac",
]


class HostState(StrEnum):
    NEW = "new"
    INSTALLING = "installing"
    INSTALLED = "installed"
    FAILED = "failed"


class EventKind(StrEnum):
    """What an installer reports (POST /api/v1/hosts/<mac>/events)."""

    START = "start"
    PROGRESS = "progress"
    FINISH = "finish"
    FAILURE = "failure"
    LOG = "log"
    BOOT = "boot"  # how the machine booted (step: a BootPath; message: BootInfo.message())


class BootPath(StrEnum):
    """How a machine booted the installer (or its menu)."""

    PXE = "pxe"  # network boot by PXE: DHCP + TFTP (or a NIC whose ROM is iPXE)
    HTTP = "http"  # UEFI HTTP boot: DHCP + HTTP, no TFTP
    ISO = "iso"  # the install medium as a CD/DVD
    USB = "usb"  # the install medium written to a USB stick
    DISK = "disk"  # another disk
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {
            "pxe": "PXE/TFTP",
            "http": "UEFI HTTP boot",
            "iso": "ISO (CD/DVD)",
            "usb": "USB stick",
            "disk": "disk",
            "unknown": "unknown",
        }[self.value]


@dataclass(frozen=True)
class BootInfo:
    """A boot path with what the firmware said: UEFI or BIOS, Secure Boot on/off/unknown."""

    path: BootPath
    firmware: str = ""  # "uefi", "bios" or "" (unknown)
    secure_boot: bool | None = None
    detail: str = ""  # e.g. the firmware's name of its boot entry

    def __post_init__(self) -> None:
        if not isinstance(self.path, BootPath):
            raise TypeError(f"BootInfo.path: {self.path!r} is not a BootPath")
        if self.firmware not in ("", "uefi", "bios"):
            raise ValueError(f"BootInfo.firmware: {self.firmware!r}")
        if len(self.detail) > 200 or any(ord(c) < 32 for c in self.detail):
            raise ValueError("BootInfo.detail: at most 200 printable characters")

    def summary(self) -> str:
        """One line for people: "UEFI HTTP boot, UEFI, Secure Boot on"."""
        parts = [self.path.label]
        if self.firmware:
            parts.append(self.firmware.upper())
        if self.secure_boot is not None:
            parts.append(f"Secure Boot {'on' if self.secure_boot else 'off'}")
        return ", ".join(parts)

    def message(self) -> str:
        """The event message: `firmware=uefi secure_boot=on; DETAIL` (parse_boot_message)."""
        sb = {None: "unknown", True: "on", False: "off"}[self.secure_boot]
        text = f"firmware={self.firmware or 'unknown'} secure_boot={sb}"
        return f"{text}; {self.detail}" if self.detail else text


def parse_boot_message(path: str, message: str) -> BootInfo:
    """The BootInfo a boot event carries (step = path, message = BootInfo.message()).

    ValueError for anything else: events come from installers, hence from outside."""
    head, _, detail = message.partition("; ")
    fields = dict(word.partition("=")[::2] for word in head.split())
    if set(fields) != {"firmware", "secure_boot"}:
        raise ValueError(f"not a boot event message: {message[:80]!r}")
    firmware = "" if fields["firmware"] == "unknown" else fields["firmware"]
    sb_values = {"on": True, "off": False, "unknown": None}
    if fields["secure_boot"] not in sb_values:
        raise ValueError(f"secure_boot={fields['secure_boot']!r}")
    return BootInfo(BootPath(path), firmware, sb_values[fields["secure_boot"]], detail)


@dataclass(frozen=True)
class Host:
    mac: str
    hostname: str
    profile: str
    state: HostState
    boot_local: bool
    wipe: bool
    token: str
    ip: str
    created: float
    updated: float


@dataclass(frozen=True)
class Event:
    id: int
    mac: str
    time: float
    kind: EventKind
    step: str
    message: str
    progress: float | None
    log_tail: str


@dataclass(frozen=True)
class HostStamp:
    """What a medium or a boot script carries for one host ("" fields: enrollment)."""

    mac: str
    hostname: str
    token: str


class HostRegistry(Protocol):
    """The part of the server's host store that install media need."""

    def hosts(self) -> list[Host]: ...

    def upsert_host(
        self,
        mac: str,
        *,
        profile: str | None = None,
        hostname: str | None = None,
        wipe: bool | None = None,
    ) -> Host: ...


def host_stamp(
    registry: HostRegistry, profile: str, mac: str | None, hostname: str | None
) -> HostStamp:
    """Register/update the host a medium is for and return what the medium carries.

    - a MAC: the host is registered (or updated) with this profile and, with a name, that name;
      the medium carries the host's token;
    - a name alone: a host of that name already known is used as with a MAC; a new name gets an
      enrollment medium (the name, no token: hosts are keyed by MAC, which is not known yet);
    - neither: a generic enrollment medium.
    """
    if hostname:
        check_hostname(hostname)
    if mac is not None:
        mac = normalize_mac(mac)
    if mac is None and not hostname:
        return HostStamp("", "", "")
    if mac is None:
        known = [h for h in registry.hosts() if h.hostname == hostname]
        if not known:
            return HostStamp("", hostname or "", "")
        mac = known[0].mac
    host = registry.upsert_host(mac, profile=profile, hostname=hostname or None)
    return HostStamp(host.mac, host.hostname, host.token)
