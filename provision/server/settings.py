"""Server settings, validated once at startup."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError

CONFIG_NAME = "server.toml"
KEYS = ("secret_key", "base_url", "listen", "admin_password_hash")


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    profiles_dir: Path
    secret_key: str
    base_url: str = "http://127.0.0.1:8080"  # how clients reach this server
    listen: str = "127.0.0.1:8080"
    admin_password_hash: str = ""

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ConfigError(
                "secret_key",
                "the server refuses to start without a secret key of at least 16 characters "
                f"(set secret_key in {self.data_dir / CONFIG_NAME} or PROVISION_SECRET_KEY)",
            )


def load_settings(data_dir: Path, profiles_dir: Path, **overrides: str) -> ServerSettings:
    """Settings from DATA_DIR/server.toml, then PROVISION_SECRET_KEY, then explicit overrides."""
    path = data_dir / CONFIG_NAME
    values: dict[str, str] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        for key, value in raw.items():
            if key not in KEYS:
                raise ConfigError(f"{path}: {key}", f"unknown key (allowed: {', '.join(KEYS)})")
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {key}", "expected a string")
            values[key] = value
    if os.environ.get("PROVISION_SECRET_KEY"):
        values["secret_key"] = os.environ["PROVISION_SECRET_KEY"]
    values.update({k: v for k, v in overrides.items() if v})
    return ServerSettings(
        data_dir=data_dir,
        profiles_dir=profiles_dir,
        secret_key=values.get("secret_key", ""),
        base_url=values.get("base_url", ServerSettings.base_url),
        listen=values.get("listen", ServerSettings.listen),
        admin_password_hash=values.get("admin_password_hash", ""),
    )
