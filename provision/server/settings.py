"""Server settings, validated once at startup (DATA_DIR/server.toml, then the environment)."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError
from provision.server.limits import MAX_BODY_BYTES

CONFIG_NAME = "server.toml"
# An http(s) URL without blanks, quotes or control characters: it goes into boot scripts,
# kernel command lines and stamped configs.
_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+\Z")


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    profiles_dir: Path
    secret_key: str
    base_url: str = "http://127.0.0.1:8080"  # how clients reach this server
    listen: str = "127.0.0.1:8080"
    admin_password_hash: str = ""
    # Security (docs/server.md "Security"): every one settable in server.toml.
    secure_cookies: bool | None = None  # None: Secure exactly when base_url is https://
    max_body_bytes: int = MAX_BODY_BYTES  # global request body cap (Flask and waitress)
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
        if not _URL_RE.match(self.base_url):
            raise ConfigError("base_url", f"{self.base_url!r} is not an http:// or https:// URL")
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


# server.toml keys: the types each takes, and how to say so.
_STR, _BOOL, _INT = ((str,), "a string"), ((bool,), "true or false"), ((int,), "an integer")
KEY_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "secret_key": _STR,
    "base_url": _STR,
    "listen": _STR,
    "admin_password_hash": _STR,
    "secure_cookies": _BOOL,
    "max_body_bytes": _INT,
    "session_hours": ((int, float), "a number"),
    "login_free_attempts": _INT,
    "login_address_max_delay": _INT,
    "login_account_max_delay": _INT,
}
KEYS = tuple(KEY_TYPES)


def _typed(path: Path, key: str, value: Any) -> Any:
    kinds, what = KEY_TYPES[key]
    # a TOML boolean is a Python int: refuse it where a number is asked for
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"{path}: {key}", f"expected {what}")
    return value


def load_settings(data_dir: Path, profiles_dir: Path, **overrides: str) -> ServerSettings:
    """Settings from DATA_DIR/server.toml, then PROVISION_SECRET_KEY, then explicit overrides."""
    path = data_dir / CONFIG_NAME
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        for key, value in raw.items():
            if key not in KEYS:
                raise ConfigError(f"{path}: {key}", f"unknown key (allowed: {', '.join(KEYS)})")
            values[key] = _typed(path, key, value)
    if os.environ.get("PROVISION_SECRET_KEY"):
        values["secret_key"] = os.environ["PROVISION_SECRET_KEY"]
    values.update({k: v for k, v in overrides.items() if v})
    values.setdefault("secret_key", "")
    return ServerSettings(data_dir=data_dir, profiles_dir=profiles_dir, **values)
