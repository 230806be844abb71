"""Where a medium's stamp comes from: the server URL, its public key, the offline snapshot.

The host and its token are resolved by the caller (provision.hosts.host_stamp, rules in
docs/iso.md) and handed in as a HostStamp.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError
from provision.run import run


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
