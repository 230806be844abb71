"""A pure parser for /etc/resolv.conf (the subset discovery needs), per resolv.conf(5)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

RESOLV_CONF = Path("/etc/resolv.conf")


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    timeout: float | None = None  # `options timeout:N`
    attempts: int | None = None  # `options attempts:N`


def parse_resolv_conf(text: str) -> ResolvConf:
    """Parse resolv.conf text like glibc does for the parts we use.

    `search` and `domain` override each other (the last one wins); comments start with `#` or
    `;`; a nameserver that is not an IP address is ignored, as glibc does; an IPv6 scope id
    (`fe80::1%eth0`) is kept.  Unknown keywords are ignored.
    """
    nameservers: list[str] = []
    search: tuple[str, ...] = ()
    timeout: float | None = None
    attempts: int | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        keyword, *values = line.split()
        if keyword == "nameserver" and values:
            if _is_ip(values[0]):
                nameservers.append(values[0])
        elif keyword == "search":
            search = tuple(_domain(v) for v in values if _domain(v))
        elif keyword == "domain" and values:
            search = (_domain(values[0]),) if _domain(values[0]) else ()
        elif keyword == "options":
            for option in values:
                name, _, value = option.partition(":")
                if name == "timeout" and value.isdigit():
                    timeout = float(value)
                elif name == "attempts" and value.isdigit():
                    attempts = int(value)
    return ResolvConf(tuple(nameservers), search, timeout, attempts)


def _domain(value: str) -> str:
    return value.rstrip(".").lower() if value != "." else ""


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True
