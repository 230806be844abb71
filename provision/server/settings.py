"""Server settings, validated once at startup: DATA_DIR/server.toml.

secret_key = "..."                  # required (or PROVISION_SECRET_KEY)
base_url = "http://provision.example.org:8080"   # how clients reach this server by default
listen = "127.0.0.1:8080"
admin_password_hash = "scrypt:..."  # `provision admin-password`
server_names = ["provision.example.org", "10.0.0.5:8080"]   # Host headers taken as they come
trusted_proxies = ["127.0.0.1"]     # X-Forwarded-* honoured from these peers only (nginx)
secure_cookies = true               # the session cookie only over https (default: when
                                    # base_url is https://)
power_networks = ["10.9.0.0/24"]   # BMCs and Wake-on-LAN broadcasts power control may reach
                                    # (IP addresses only when set; default: anywhere)
[[networks]]                        # clients in this network reach the server at this URL
cidr = "10.0.2.0/24"
base_url = "http://10.0.2.2:8080"

Which URL a client is given (boot scripts, host config) is decided by provision.server.urls.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError

# the default global cap on a request body (server.toml: max_body_bytes); the other limits are
# in provision.server.limits (which needs flask: settings must not, `provision status` reads them)
MAX_BODY_BYTES = 1 << 20

CONFIG_NAME = "server.toml"
# numbers settable in server.toml (docs/server.md "Security"): key -> (types, what to say)
NUMBER_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "max_body_bytes": ((int,), "an integer"),
    "session_hours": ((int, float), "a number"),
    "login_free_attempts": ((int,), "an integer"),
    "login_address_max_delay": ((int,), "an integer"),
    "login_account_max_delay": ((int,), "an integer"),
}
KEYS = (
    "secret_key",
    "base_url",
    "listen",
    "admin_password_hash",
    "server_names",
    "trusted_proxies",
    "secure_cookies",
    "networks",
    "power_networks",
    *NUMBER_KEYS,
)
STRING_KEYS = ("secret_key", "base_url", "listen", "admin_password_hash")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_URL_RE = re.compile(r"https?://[A-Za-z0-9.:\[\]-]{1,300}(/[A-Za-z0-9._~/-]{0,200})?\Z")
# a host name, an IPv4 address or a [bracketed] IPv6 address, with an optional :port
_SERVER_NAME_RE = re.compile(
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?\Z"
)
MAX_LIST = 64


def check_url(where: str, value: str) -> str:
    """An http(s) URL without query or fragment; the trailing slash dropped."""
    if not _URL_RE.match(value):
        raise ConfigError(where, f"{value!r} is not an http:// or https:// URL (no query)")
    return value.rstrip("/")


def check_server_name(where: str, value: str) -> str:
    """host, host:port, IP, IP:port or [IPv6]:port, lower-cased."""
    if len(value) > 260 or not _SERVER_NAME_RE.match(value):
        raise ConfigError(where, f"{value!r} is not a host name or address (with optional :port)")
    return value.lower()


def check_network(where: str, value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(where, f"{value!r} is not an IP address or network (CIDR)") from None


@dataclass(frozen=True)
class NetworkURL:
    """Clients whose address is in `network` reach the server at `base_url`."""

    network: IPNetwork
    base_url: str


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    profiles_dir: Path
    secret_key: str
    base_url: str = "http://127.0.0.1:8080"  # how clients reach this server
    listen: str = "127.0.0.1:8080"
    admin_password_hash: str = ""
    server_names: tuple[str, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    secure_cookies: bool | None = None  # None: Secure exactly when base_url is https://
    networks: tuple[NetworkURL, ...] = ()
    # where power control may send (provision.fleet.power); empty: anywhere
    power_networks: tuple[IPNetwork, ...] = ()
    # Security (docs/server.md "Security"): every one settable in server.toml.
    max_body_bytes: int = MAX_BODY_BYTES  # global request body cap (Flask and the HTTP server)
    session_hours: float = 12.0  # lifetime of a login (cookie) and of an API token
    login_free_attempts: int = 5  # failed logins before the back-off starts
    login_address_max_delay: int = 900  # seconds: back-off cap per client address
    login_account_max_delay: int = 60  # seconds: back-off cap for the admin account

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ConfigError(
                "secret_key",
                "the server refuses to start without a secret key of at least 16 characters "
                f"(set secret_key in {self.data_dir / CONFIG_NAME} or PROVISION_SECRET_KEY)",
            )
        check_url("base_url", self.base_url)
        if not 1024 <= self.max_body_bytes <= 1 << 30:
            raise ConfigError("max_body_bytes", "expected 1024 .. 1073741824 (bytes)")
        if not 0.05 <= self.session_hours <= 24 * 30:
            raise ConfigError("session_hours", "expected 0.05 .. 720 (hours)")
        if not 1 <= self.login_free_attempts <= 100:
            raise ConfigError("login_free_attempts", "expected 1 .. 100")
        for name in ("login_address_max_delay", "login_account_max_delay"):
            if not 1 <= getattr(self, name) <= 86400:
                raise ConfigError(name, "expected 1 .. 86400 (seconds)")

    @property
    def cookies_secure(self) -> bool:
        """Mark the session cookie Secure: as set, else when clients use https."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")

    @property
    def session_seconds(self) -> int:
        return int(self.session_hours * 3600)


def _strings(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, "expected an array of strings")
    if len(value) > MAX_LIST:
        raise ConfigError(where, f"at most {MAX_LIST} entries")
    return list(value)


def _networks(where: str, value: Any) -> tuple[NetworkURL, ...]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(where, 'expected [[networks]] tables (cidr = "...", base_url = "...")')
    if len(value) > MAX_LIST:
        raise ConfigError(where, f"at most {MAX_LIST} entries")
    out = []
    for i, table in enumerate(value):
        unknown = sorted(set(table) - {"cidr", "base_url"})
        if unknown:
            raise ConfigError(f"{where}[{i}].{unknown[0]}", "unknown key (allowed: cidr, base_url)")
        cidr, url = table.get("cidr"), table.get("base_url")
        if not isinstance(cidr, str) or not isinstance(url, str):
            raise ConfigError(f"{where}[{i}]", "cidr and base_url are required strings")
        out.append(
            NetworkURL(
                check_network(f"{where}[{i}].cidr", cidr),
                check_url(f"{where}[{i}].base_url", url),
            )
        )
    return tuple(out)


def parse_settings(
    raw: dict[str, Any], where: str, data_dir: Path, profiles_dir: Path, overrides: dict[str, str]
) -> ServerSettings:
    """Pure: the parsed server.toml (plus environment and command-line overrides) -> settings."""
    for key, value in raw.items():
        if key not in KEYS:
            raise ConfigError(f"{where}: {key}", f"unknown key (allowed: {', '.join(KEYS)})")
        if key in STRING_KEYS and not isinstance(value, str):
            raise ConfigError(f"{where}: {key}", "expected a string")
    strings = {k: raw[k] for k in STRING_KEYS if k in raw}
    strings.update({k: v for k, v in overrides.items() if v})
    secure_cookies = raw.get("secure_cookies")
    if secure_cookies is not None and not isinstance(secure_cookies, bool):
        raise ConfigError(f"{where}: secure_cookies", "expected true or false")
    numbers: dict[str, Any] = {}
    for key, (kinds, what) in NUMBER_KEYS.items():
        if key in raw:
            value = raw[key]
            # a TOML boolean is a Python int: refuse it where a number is asked for
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise ConfigError(f"{where}: {key}", f"expected {what}")
            numbers[key] = value
    base_url = strings.get("base_url", ServerSettings.base_url)
    return ServerSettings(
        data_dir=data_dir,
        profiles_dir=profiles_dir,
        secret_key=strings.get("secret_key", ""),
        base_url=check_url(f"{where}: base_url", base_url),
        listen=strings.get("listen", ServerSettings.listen),
        admin_password_hash=strings.get("admin_password_hash", ""),
        server_names=tuple(
            check_server_name(f"{where}: server_names[{i}]", name)
            for i, name in enumerate(
                _strings(f"{where}: server_names", raw.get("server_names", []))
            )
        ),
        trusted_proxies=tuple(
            check_network(f"{where}: trusted_proxies[{i}]", value)
            for i, value in enumerate(
                _strings(f"{where}: trusted_proxies", raw.get("trusted_proxies", []))
            )
        ),
        secure_cookies=secure_cookies,
        networks=_networks(f"{where}: networks", raw.get("networks", [])),
        power_networks=tuple(
            check_network(f"{where}: power_networks[{i}]", value)
            for i, value in enumerate(
                _strings(f"{where}: power_networks", raw.get("power_networks", []))
            )
        ),
        **numbers,
    )


def load_settings(data_dir: Path, profiles_dir: Path, **overrides: str) -> ServerSettings:
    """Settings from DATA_DIR/server.toml, then PROVISION_SECRET_KEY, then explicit overrides."""
    path = data_dir / CONFIG_NAME
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    env = {"secret_key": os.environ.get("PROVISION_SECRET_KEY", "")}
    return parse_settings(raw, str(path), data_dir, profiles_dir, {**env, **overrides})
