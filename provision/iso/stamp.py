"""What makes one medium different from another: the stamp (pure).

The stamp is written to /provision/config.toml on the medium (with the server's public key next
to it) and its essentials go on the kernel command line as provision.* arguments, so that the
live environment knows its server, profile, host and token before it mounts anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from string import Template

from provision.errors import ConfigError
from provision.names import HostName, Mac, ProfileName, SnapshotId

CONFIG_PATH = "provision/config.toml"
PUBLIC_KEY_PATH = "provision/server.asc"
SNAPSHOT_DIR = "provision/snapshot"
STAGE_DIR = "provision/stage"
# Values that end up on a kernel command line inside a GRUB or isolinux menu: no blanks, no
# quotes, nothing GRUB's script reads as syntax ($ expansion, ; & | separators, ( ) { }).
_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/%@+\[\]-]+\Z")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{0,128}\Z")
_FILE_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._+-]{0,254})?\Z")


@dataclass(frozen=True)
class Stamp:
    server: str
    profile: str
    public_key: str  # ASCII-armored
    mac: str = ""
    hostname: str = ""
    token: str = ""  # empty: an enrollment medium (the server issues a token at registration)
    offline: bool = False
    snapshot: str = ""  # id of the snapshot carried on an offline medium
    stage: str = ""  # file name of the stage tarball under /provision/stage
    has_repo: bool = False
    created: str = ""

    def __post_init__(self) -> None:
        if not _URL_RE.match(self.server):
            raise ConfigError(
                "server", f"{self.server!r} is not an http(s) URL (no blanks, quotes, query)"
            )
        ProfileName(self.profile)
        if self.mac:
            Mac(self.mac)
        if self.hostname:
            HostName(self.hostname)
        if self.snapshot:
            SnapshotId(self.snapshot)
        if not _TOKEN_RE.match(self.token):
            raise ConfigError("token", "a host token is URL-safe base64")
        if not _FILE_RE.match(self.stage):
            raise ConfigError("stage", f"{self.stage!r} is not a plain file name")
        if "BEGIN PGP PUBLIC KEY BLOCK" not in self.public_key:
            raise ConfigError("public key", "not an ASCII-armored OpenPGP public key")
        if self.offline and not self.snapshot:
            raise ConfigError("offline", "an offline medium needs the snapshot it carries")

    @property
    def host(self) -> str:
        """How the medium names its host: the MAC when known, else the host name."""
        return self.mac or self.hostname


def kernel_args(stamp: Stamp) -> list[str]:
    """The provision.* kernel arguments; empty values are left out."""
    args = [f"provision.server={stamp.server}", f"provision.profile={stamp.profile}"]
    if stamp.host:
        args.append(f"provision.host={stamp.host}")
    if stamp.hostname:
        args.append(f"provision.hostname={stamp.hostname}")
    if stamp.token:
        args.append(f"provision.token={stamp.token}")
    args.append(f"provision.config=/{CONFIG_PATH}")
    return args


def toml_str(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML ones for this character set)."""
    if "\n" in value:
        body = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        return f'"""\n{body}"""'
    return json.dumps(value, ensure_ascii=False)


def render_config(stamp: Stamp, template: str) -> str:
    """The text of /provision/config.toml."""
    snap = f"/{SNAPSHOT_DIR}" if stamp.offline else ""
    values = {
        "created": stamp.created or "(unknown)",
        "server": toml_str(stamp.server),
        "profile": toml_str(stamp.profile),
        "mac": toml_str(stamp.mac),
        "hostname": toml_str(stamp.hostname),
        "token": toml_str(stamp.token),
        "offline": "true" if stamp.offline else "false",
        "snapshot": toml_str(stamp.snapshot),
        "binhost": toml_str(f"{snap}/binhost" if snap else ""),
        "repo": toml_str(f"{snap}/repo" if snap and stamp.has_repo else ""),
        "stage": toml_str(f"/{STAGE_DIR}/{stamp.stage}" if stamp.stage else ""),
        "public_key_file": toml_str(f"/{PUBLIC_KEY_PATH}"),
        "public_key": toml_str(stamp.public_key),
    }
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise ConfigError("config.toml template", f"bad placeholder: {exc}") from exc
