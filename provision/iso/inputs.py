"""Where a medium's stamp comes from: the server URL, its public key, the host and its token.

Host rules (see docs/iso.md):
- `--host MAC` registers the host in the store (or updates it) with this profile and, with
  `--hostname`, this name; the medium carries the host's token.
- `--hostname NAME` alone: a host of that name already in the store is used as with `--host`;
  a new name gets an enrollment medium: the name, no token (the store keys hosts by MAC, which is
  not known yet).  The server registers the machine by MAC at first contact and issues its token
  then, as for an unknown machine that PXE-boots.
- Neither: a generic enrollment medium for the profile.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError
from provision.run import run
from provision.server.store import Store, check_hostname, normalize_mac


@dataclass(frozen=True)
class HostStamp:
    mac: str
    hostname: str
    token: str


def server_url(data_dir: Path, explicit: str | None) -> str:
    """--server, else base_url from DATA_DIR/server.toml; a clear error when neither is set."""
    if explicit:
        return explicit.rstrip("/")
    path = data_dir / "server.toml"
    if path.is_file():
        try:
            url = tomllib.loads(path.read_text()).get("base_url")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        if isinstance(url, str) and url:
            return url.rstrip("/")
    raise ConfigError(
        "server",
        f"no server URL: pass --server URL or set base_url in {path} (how clients reach "
        "this server)",
    )


def default_public_key(data_dir: Path) -> Path:
    return data_dir / "keys" / "public.asc"


def public_key(data_dir: Path, explicit: Path | None) -> str:
    """The server's ASCII-armored signing key.

    --public-key FILE, else DATA_DIR/keys/public.asc, else exported from the verify keyring
    the builder keeps (DATA_DIR/keys/verify + keys/fingerprint).
    """
    path = explicit or default_public_key(data_dir)
    if path.is_file():
        text = path.read_text(errors="replace")
        if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
            raise ConfigError(
                str(path), "not an ASCII-armored OpenPGP public key (gpg -a --export)"
            )
        return text
    if explicit is not None:
        raise ConfigError(str(path), "no such file (the server's public key, gpg -a --export)")
    keys = data_dir / "keys"
    fpr_file, verify = keys / "fingerprint", keys / "verify"
    if fpr_file.is_file() and verify.is_dir():
        fpr = fpr_file.read_text().strip()
        argv = ["gpg", "--homedir", str(verify), "--batch", "--no-tty", "--armor", "--export", fpr]
        text = run(argv).stdout
        if "BEGIN PGP PUBLIC KEY BLOCK" in text:
            return text
    raise ConfigError(
        str(path),
        "the server's public key is missing (create the signing key first, or pass "
        "--public-key FILE)",
    )


def host_stamp(data_dir: Path, profile: str, mac: str | None, hostname: str | None) -> HostStamp:
    """Register/update the host and return what the medium carries (rules: module docstring)."""
    if hostname:
        check_hostname(hostname)
    if mac is not None:
        mac = normalize_mac(mac)
    if mac is None and not hostname:
        return HostStamp("", "", "")
    store = Store.in_data_dir(data_dir)
    try:
        if mac is None:
            known = [h for h in store.hosts() if h.hostname == hostname]
            if not known:
                return HostStamp("", hostname or "", "")
            mac = known[0].mac
        host = store.upsert_host(mac, profile=profile, hostname=hostname or None)
        return HostStamp(host.mac, host.hostname, host.token)
    finally:
        store.close()


@dataclass(frozen=True)
class SnapshotSource:
    root: Path  # the snapshot directory: binhost/ (required) and repo/ (optional)
    snapshot_id: str


def offline_source(data_dir: Path, profile: str, explicit: Path | None) -> SnapshotSource:
    """--offline-from DIR, else DATA_DIR/snapshots/PROFILE/current (what clients see now)."""
    root = explicit or data_dir / "snapshots" / profile / "current"
    if not (root / "binhost").is_dir():
        raise ConfigError(
            str(root / "binhost"),
            "no published binhost to carry offline (build and publish the profile first, or "
            "pass --offline-from SNAPSHOT_DIR)",
        )
    resolved = root.resolve()
    return SnapshotSource(resolved, os.path.basename(resolved))
