"""DnsSettings: where and how the server registers hosts, validated once from dns.toml."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.tsig

from provision.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_NAME = "dns.toml"

# TSIG algorithms BIND and dnspython both know (RFC 8945); hmac-sha256 is the default.
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,
}
REVERSE_SUFFIXES = ("in-addr.arpa", "ip6.arpa")
MAX_TTL = 2**31 - 1


@dataclass(frozen=True)
class DnsSettings:
    """The primary server that accepts updates, the zones, and the TSIG key."""

    server: str
    zone: str
    key_name: str
    key_secret: str  # base64, as tsig-keygen prints it
    port: int = 53
    reverse_zones: tuple[str, ...] = ()
    key_algorithm: str = "hmac-sha256"
    ttl: int = 300
    timeout: float = 5.0
    source: str = field(default="", compare=False)  # the file it came from, for messages

    def __post_init__(self) -> None:
        where = self.source or CONFIG_NAME

        def bad(key: str, message: str) -> ConfigError:
            return ConfigError(f"{where}: {key}", message)

        try:
            ipaddress.ip_address(self.server)
        except ValueError:
            raise bad("server", f"{self.server!r} is not an IP address") from None
        if not 1 <= self.port <= 65535:
            raise bad("port", f"{self.port} is not a port number (1-65535)")
        _check_name(self.zone, bad("zone", f"{self.zone!r} is not a DNS zone name"))
        for zone in self.reverse_zones:
            _check_name(zone, bad("reverse_zones", f"{zone!r} is not a DNS zone name"))
            if not zone.rstrip(".").lower().endswith(REVERSE_SUFFIXES):
                raise bad("reverse_zones", f"{zone!r} is not under in-addr.arpa or ip6.arpa")
        _check_name(self.key_name, bad("key_name", f"{self.key_name!r} is not a DNS name"))
        try:
            secret = base64.b64decode(self.key_secret, validate=True)
        except (binascii.Error, ValueError):
            raise bad(
                "key_secret", "not valid base64 (use the secret tsig-keygen prints)"
            ) from None
        if not secret:
            raise bad("key_secret", "must not be empty")
        if self.key_algorithm not in ALGORITHMS:
            raise bad(
                "key_algorithm", f"{self.key_algorithm!r} is not one of {', '.join(ALGORITHMS)}"
            )
        if not 0 <= self.ttl <= MAX_TTL:
            raise bad("ttl", f"{self.ttl} is out of range (0-{MAX_TTL})")
        if not 0 < self.timeout <= 300:
            raise bad("timeout", f"{self.timeout} is out of range (more than 0, at most 300 s)")

    @property
    def tsig_key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.key_name, self.key_secret, ALGORITHMS[self.key_algorithm])

    def reverse_zone_for(self, reverse_name: dns.name.Name) -> dns.name.Name | None:
        """The longest configured reverse zone that contains reverse_name, if any."""
        best: dns.name.Name | None = None
        for text in self.reverse_zones:
            zone = dns.name.from_text(text)
            if reverse_name.is_subdomain(zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best


def _check_name(text: str, error: ConfigError) -> None:
    if not text or text.strip() != text or " " in text:
        raise error
    try:
        dns.name.from_text(text)
    except dns.exception.DNSException:
        raise error from None


_TYPES: dict[str, tuple[type, ...]] = {
    "server": (str,),
    "port": (int,),
    "zone": (str,),
    "reverse_zones": (list,),
    "key_name": (str,),
    "key_secret": (str,),
    "key_algorithm": (str,),
    "ttl": (int,),
    "timeout": (int, float),
}
_REQUIRED = ("server", "zone", "key_name", "key_secret")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list"}


def settings_from_dict(raw: dict[str, Any], source: str) -> DnsSettings:
    """Validate a parsed dns.toml into DnsSettings; errors name the file and the key."""
    for key, value in raw.items():
        if key not in _TYPES:
            raise ConfigError(f"{source}: {key}", f"unknown key (allowed: {', '.join(_TYPES)})")
        types = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join(_TYPE_NAMES[t] for t in types)
            raise ConfigError(f"{source}: {key}", f"expected {want}, got {type(value).__name__}")
    for key in _REQUIRED:
        if key not in raw:
            raise ConfigError(f"{source}: {key}", "missing (required)")
    zones = raw.get("reverse_zones", [])
    if not all(isinstance(z, str) for z in zones):
        raise ConfigError(f"{source}: reverse_zones", "expected a list of strings")
    return DnsSettings(
        server=raw["server"],
        port=raw.get("port", 53),
        zone=raw["zone"],
        reverse_zones=tuple(zones),
        key_name=raw["key_name"],
        key_secret=raw["key_secret"],
        key_algorithm=raw.get("key_algorithm", "hmac-sha256"),
        ttl=raw.get("ttl", 300),
        timeout=float(raw.get("timeout", 5.0)),
        source=source,
    )


def default_path(data_dir: Path) -> Path:
    return data_dir / CONFIG_NAME


def load_dns_settings(path: Path) -> DnsSettings:
    """Read and validate a dns.toml file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), "no DNS configuration (create it, see docs/dns.md)") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    if path.stat().st_mode & 0o077:
        log.warning("%s holds a TSIG secret but others may read it: chmod 600 it", path)
    return settings_from_dict(raw, str(path))
