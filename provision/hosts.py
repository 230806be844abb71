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
