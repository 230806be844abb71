"""What the installer is told to do: the server's config document, validated into InstallConfig.

The server renders the document with `config_document()` (GET /api/v1/hosts/<mac>/config); the
installer parses it with `parse_config()`.  The same model is built from local files when an
admin installs from a running system (`provision install --profile NAME ...`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any

from provision.errors import ConfigError
from provision.install.render import Network
from provision.names import HostName
from provision.profiles.model import Profile

SETTING_KEYS = ("root_password_hash", "ssh_authorized_keys", "network", "packages")


@dataclass(frozen=True)
class HostSettings:
    hostname: str = "gentoo"
    root_password_hash: str = ""
    ssh_authorized_keys: tuple[str, ...] = ()
    network: Network = dataclasses.field(default_factory=Network)
    packages: tuple[str, ...] = ()  # extra atoms for this host, emerged on top of the image


@dataclass(frozen=True)
class Sources:
    """Where the installer fetches things (all on the provision server)."""

    binhost_url: str = ""  # .../binhost/<profile>/  (Packages index + GPKGs)
    key_url: str = ""  # the server's public signing key (ASCII armour)
    key_fingerprint: str = ""  # pin (optional): refuse any other key
    stage_url: str = ""  # stage tarball; <url>.sha512 + <url>.sha512.asc next to it
    repo_url: str = ""  # tarball of the ebuild-repository snapshot matching the binhost
    # the profile's system image: a URL (.../image/<profile>/current) or a directory (an
    # offline medium) holding system.tar.zst + .manifest + .manifest.asc; "" = none
    image_url: str = ""
    # mirrors of the binhost: one "PRIORITY URL" per line (binrepos.conf entries beside the
    # server's; every package is still verified against the server's key)
    binhost_mirrors: str = ""

    def mirrors(self) -> list[tuple[int, str]]:
        out = []
        for line in self.binhost_mirrors.splitlines():
            prio, _, url = line.strip().partition(" ")
            if not prio.lstrip("-").isdigit() or not url.startswith(("http://", "https://")):
                raise ConfigError("sources.binhost_mirrors", f"{line!r} is not 'PRIORITY URL'")
            out.append((int(prio), url.strip()))
        return out


# The Secure Boot files of an install: their names on the server (GET /boot/secureboot/NAME).
SECURE_BOOT_FILES = ("shimx64.efi", "mmx64.efi", "grubx64.efi", "provision-db.der")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class SecureBootFiles:
    """Where a secure_boot profile's install gets shim, the server-signed GRUB, MokManager and
    the certificate to enrol, each pinned by its SHA-256 (the config document is per host and
    token-authenticated; the files are public)."""

    url: str  # .../boot/secureboot/ (NAME is appended)
    sha256: dict[str, str]

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")) or not self.url.endswith("/"):
            raise ConfigError("secure_boot.url", f"{self.url!r} is not an http(s) directory URL")
        if set(self.sha256) != set(SECURE_BOOT_FILES):
            raise ConfigError("secure_boot.sha256", f"expected {', '.join(SECURE_BOOT_FILES)}")
        for name, digest in self.sha256.items():
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise ConfigError(f"secure_boot.sha256.{name}", "not a SHA-256 (hex)")


@dataclass(frozen=True)
class InstallConfig:
    host_id: str  # the MAC address (or another stable id) this install is for
    profile: Profile
    settings: HostSettings
    sources: Sources
    wipe: bool = False
    events_url: str = ""  # POST target for events ("" = print only)
    token: str = ""
    secure_boot: SecureBootFiles | None = None  # set for a secure_boot profile
    force_cpu: bool = False  # an admin forced this profile past the CPU check (provision.fleet)

    @property
    def seed(self) -> str:
        """Stable per (host, profile): derives the disk id and filesystem UUIDs."""
        return f"{self.host_id}/{self.profile.name}"


def config_document(
    *,
    host_id: str,
    hostname: str,
    profile: Profile,
    settings: dict[str, str],
    base_url: str,
    wipe: bool,
    stage_url: str = "",
    repo_url: str = "",
    key_fingerprint: str = "",
    image_url: str = "",
    secure_boot_sha256: dict[str, str] | None = None,
    force_cpu: bool = False,
    mirrors: tuple[tuple[int, str], ...] = (),
) -> dict[str, Any]:
    """The JSON the server returns to an installing host (pure).  mirrors: (priority, base
    URL) of the server's mirrors (provision mirror)."""
    base = base_url.rstrip("/")
    doc: dict[str, Any] = {
        "host": {"id": host_id, "hostname": hostname, "wipe": wipe, "force_cpu": force_cpu},
        "profile": dataclasses.asdict(profile),
        "settings": {k: settings[k] for k in SETTING_KEYS if k in settings},
        "sources": {
            "binhost_url": f"{base}/binhost/{profile.name}/",
            "key_url": f"{base}/key.asc",
            "key_fingerprint": key_fingerprint,
            "stage_url": stage_url,
            "repo_url": repo_url,
            "image_url": image_url,
            "binhost_mirrors": "\n".join(
                f"{prio} {url.rstrip('/')}/binhost/{profile.name}/" for prio, url in mirrors
            ),
        },
        "events_url": f"{base}/api/v1/hosts/{host_id}/events",
    }
    if secure_boot_sha256 is not None:
        doc["secure_boot"] = {"url": f"{base}/boot/secureboot/", "sha256": secure_boot_sha256}
    return doc


def parse_config(doc: Any, *, token: str = "") -> InstallConfig:
    """Validate the server's document (ConfigError naming the field on bad input)."""
    d = _obj("config", doc)
    host = _obj("host", d.get("host", {}))
    settings = _obj("settings", d.get("settings", {}))
    sources = _obj("sources", d.get("sources", {}))
    keys = settings.get("ssh_authorized_keys", "")
    if not isinstance(keys, str):
        raise ConfigError("settings.ssh_authorized_keys", "expected text, one key per line")
    packages = parse_atoms(_str("settings.packages", settings.get("packages", "")))
    return InstallConfig(
        host_id=_str("host.id", host.get("id", "")) or "unknown",
        profile=profile_from_dict(d.get("profile")),
        settings=HostSettings(
            hostname=HostName(_str("host.hostname", host.get("hostname", "")) or "gentoo"),
            root_password_hash=_str(
                "settings.root_password_hash", settings.get("root_password_hash", "")
            ),
            ssh_authorized_keys=tuple(k.strip() for k in keys.splitlines() if k.strip()),
            network=Network.parse(_str("settings.network", settings.get("network", "dhcp"))),
            packages=packages,
        ),
        sources=Sources(
            **{
                f.name: _str(f"sources.{f.name}", sources.get(f.name, ""))
                for f in dataclasses.fields(Sources)
            }
        ),
        wipe=bool(host.get("wipe", False)),
        force_cpu=host.get("force_cpu", False) is True,
        events_url=_str("events_url", d.get("events_url", "")),
        token=token,
        secure_boot=_secure_boot(d.get("secure_boot")),
    )


def _secure_boot(value: Any) -> SecureBootFiles | None:
    if value is None:
        return None
    sb = _obj("secure_boot", value)
    digests = _obj("secure_boot.sha256", sb.get("sha256", {}))
    return SecureBootFiles(
        url=_str("secure_boot.url", sb.get("url", "")),
        sha256={str(k): v for k, v in digests.items()},
    )


def parse_atoms(text: str) -> tuple[str, ...]:
    """Extra packages (whitespace or comma separated atoms) → a tuple (pure)."""
    atoms = tuple(a for a in text.replace(",", " ").split() if a)
    for atom in atoms:
        if not re.fullmatch(r"[A-Za-z0-9@<>=~!_.+*/:-]+", atom) or atom.startswith("-"):
            raise ConfigError("settings.packages", f"{atom!r} is not a package atom")
    return atoms


def _obj(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(where, "expected an object")
    return value


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, "expected a string")
    return value


# --- Profile from its asdict() form ----------------------------------------------------------
def profile_from_dict(data: Any) -> Profile:
    """Rebuild a Profile from dataclasses.asdict(profile) (as sent by the server)."""
    try:
        result = _build(Profile, data, "profile")
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError("profile", f"not a valid profile document: {exc}") from exc
    assert isinstance(result, Profile)
    return result


def _build(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        obj = _obj(where, value)
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        unknown = set(obj) - known
        if unknown:
            raise ConfigError(where, f"unknown keys {sorted(unknown)}")
        return tp(**{k: _build(hints[k], v, f"{where}.{k}") for k, v in obj.items()})
    if origin is tuple:
        (item, _) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(where, "expected a list")
        return tuple(_build(item, v, f"{where}[]") for v in value)
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {str(k): _build(vt, v, f"{where}.{k}") for k, v in _obj(where, value).items()}
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _build(next(a for a in typing.get_args(tp) if a is not type(None)), value, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp in (str, int, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(where, f"expected {tp.__name__}")
        return value
    raise ConfigError(where, f"unsupported type {tp!r}")
