"""Per-host power settings: the typed model, its validation, and its public (secret-free) form.

    {"driver": "redfish", "address": "https://bmc1.example.org", "system": "1",
     "username": "admin", "password": "...", "verify_tls": true, "boot": "pxe"}
    {"driver": "ipmi", "address": "10.0.0.5", "port": 623, "username": "admin", "password": "..."}
    {"driver": "wol", "interface": "br0", "broadcast": "192.0.2.255", "port": 9}

The password is the only secret: the server keeps it encrypted (provision.fleet.power.secret)
and never shows it again; `public()` is everything else.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from provision.errors import ConfigError


class PowerDriver(StrEnum):
    WOL = "wol"
    REDFISH = "redfish"
    IPMI = "ipmi"


class PowerAction(StrEnum):
    ON = "on"
    OFF = "off"
    CYCLE = "cycle"  # off and on again (or on, when it is off)
    STATUS = "status"


class BootTarget(StrEnum):
    """The one-time boot override a reinstall sets."""

    PXE = "pxe"
    HTTP = "http"  # UEFI HTTP boot


KEYS = (
    "driver", "address", "port", "system", "username", "password", "verify_tls", "boot",
    "interface", "broadcast",
)  # fmt: skip
PASSWORD_MAX = 256
_HOST_RE = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")  # fmt: skip
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}\Z")
_USER_RE = re.compile(r"[^\x00-\x1f\x7f]{0,64}\Z")
_SYSTEM_RE = re.compile(r"[A-Za-z0-9_.:/-]{0,200}\Z")


@dataclass(frozen=True)
class PowerSettings:
    driver: PowerDriver
    address: str = ""  # redfish: http(s)://host[:port]; ipmi: host name or IP
    port: int = 0  # ipmi: UDP port (623); wol: UDP port (9)
    system: str = ""  # redfish: system id or /redfish/v1/Systems/<id> ("" = the only one)
    username: str = ""
    verify_tls: bool = True  # redfish over https
    boot: BootTarget = BootTarget.PXE
    interface: str = ""  # wol: send on this interface ("" = by route)
    broadcast: str = "255.255.255.255"  # wol

    def __post_init__(self) -> None:
        if not isinstance(self.driver, PowerDriver) or not isinstance(self.boot, BootTarget):
            raise TypeError("PowerSettings: driver and boot must be enums")

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {PowerDriver.IPMI: 623, PowerDriver.WOL: 9}.get(self.driver, 0)

    @property
    def needs_password(self) -> bool:
        return self.driver is not PowerDriver.WOL

    def public(self) -> dict[str, Any]:
        """The settings without the secret (what the API and the UI show)."""
        out: dict[str, Any] = {"driver": self.driver.value}
        if self.driver is PowerDriver.WOL:
            out.update(interface=self.interface, broadcast=self.broadcast, port=self.effective_port)
        else:
            out.update(address=self.address, username=self.username)
        if self.driver is PowerDriver.REDFISH:
            out.update(system=self.system, verify_tls=self.verify_tls, boot=self.boot.value)
        if self.driver is PowerDriver.IPMI:
            out.update(port=self.effective_port)
        return out

    def describe(self) -> str:
        if self.driver is PowerDriver.WOL:
            via = f" on {self.interface}" if self.interface else ""
            return f"Wake-on-LAN to {self.broadcast}:{self.effective_port}{via}"
        if self.driver is PowerDriver.REDFISH:
            return f"Redfish {self.address} system {self.system or '(the only one)'}"
        return f"IPMI {self.address}:{self.effective_port}"


def _str(key: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise ConfigError(f"power.{key}", f"{shown!r} is not {what}")
    return value


def _port(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ConfigError(f"power.{key}", "expected a port number (1 to 65535)")
    return value


def _redfish_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 300:
        raise ConfigError("power.address", "expected the BMC's URL (https://bmc.example.org)")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not host
        or parts.query
        or parts.fragment
        or parts.username
        or parts.path not in ("", "/")
        or not _host_ok(host)
    ):
        raise ConfigError(
            "power.address", f"{value[:60]!r} is not a BMC URL (http(s)://host[:port], no path)"
        )
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise ConfigError("power.address", f"{value[:60]!r}: {exc}") from exc
    return value.rstrip("/")


def _host_ok(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_RE.match(host))


def parse_power(doc: Any) -> tuple[PowerSettings, str | None]:
    """Validate settings from the API or a form: (settings, password); password None = keep
    the stored one (absent or empty in the request)."""
    if not isinstance(doc, dict):
        raise ConfigError("power", "expected an object")
    unknown = sorted(k for k in doc if k not in KEYS)
    if unknown:
        raise ConfigError("power", f"unknown keys {unknown[:5]} (allowed: {', '.join(KEYS)})")
    driver_text = doc.get("driver")
    if driver_text not in tuple(PowerDriver):
        allowed = ", ".join(d.value for d in PowerDriver)
        raise ConfigError("power.driver", f"{str(driver_text)[:20]!r}: expected one of {allowed}")
    driver = PowerDriver(driver_text)
    password = doc.get("password")
    if password is not None and (
        not isinstance(password, str) or len(password) > PASSWORD_MAX or "\x00" in password
    ):
        raise ConfigError("power.password", f"expected a string of at most {PASSWORD_MAX}")
    port = _port("port", doc.get("port", 0)) or {PowerDriver.IPMI: 623, PowerDriver.WOL: 9}.get(
        driver, 0
    )
    if driver is PowerDriver.WOL:
        broadcast = doc.get("broadcast", "255.255.255.255")
        try:
            addr = ipaddress.IPv4Address(broadcast if isinstance(broadcast, str) else "")
        except ValueError as exc:
            raise ConfigError("power.broadcast", "expected an IPv4 broadcast address") from exc
        interface = doc.get("interface", "")
        if interface:
            _str("interface", interface, _IFNAME_RE, "a network interface name")
        return PowerSettings(driver, port=port, interface=interface, broadcast=str(addr)), None
    if driver is PowerDriver.REDFISH:
        address = _redfish_url(doc.get("address"))
    else:
        given = doc.get("address")
        if not isinstance(given, str) or not _host_ok(given):
            raise ConfigError("power.address", "expected the BMC's host name or IP address")
        address = given
    verify = doc.get("verify_tls", True)
    if not isinstance(verify, bool):
        raise ConfigError("power.verify_tls", "expected true or false")
    boot = doc.get("boot", "pxe")
    if boot not in tuple(BootTarget):
        raise ConfigError("power.boot", f"{str(boot)[:20]!r}: expected pxe or http")
    settings = PowerSettings(
        driver,
        address=address,
        port=port,
        system=_str("system", doc.get("system", ""), _SYSTEM_RE, "a Redfish system id"),
        username=_str("username", doc.get("username", ""), _USER_RE, "a user name"),
        verify_tls=verify,
        boot=BootTarget(boot),
    )
    return settings, (password or None)


def settings_from_public(doc: dict[str, Any]) -> PowerSettings:
    """The stored (public) form back into settings; the store wrote it, so it is trusted
    only as far as parse_power checks it again."""
    settings, _ = parse_power({k: v for k, v in doc.items() if k in KEYS and k != "password"})
    return settings


def target_host(settings: PowerSettings) -> str:
    """Where power control sends: the BMC's host or the Wake-on-LAN broadcast address."""
    if settings.driver is PowerDriver.WOL:
        return settings.broadcast
    if settings.driver is PowerDriver.REDFISH:
        return urlsplit(settings.address).hostname or ""
    return settings.address


def check_allowed(settings: PowerSettings, networks: tuple[Any, ...]) -> None:
    """With allowed networks configured (server.toml power_networks), the target must be an IP
    address inside one of them: a name could resolve anywhere.  ConfigError otherwise."""
    if not networks:
        return
    host = target_host(settings)
    key = "power.broadcast" if settings.driver is PowerDriver.WOL else "power.address"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            key, f"{host[:60]!r}: give an IP address (power_networks only allows addresses)"
        ) from None
    if not any(addr in net for net in networks):
        shown = ", ".join(str(n) for n in networks)
        raise ConfigError(key, f"{addr} is outside the power networks ({shown})")
