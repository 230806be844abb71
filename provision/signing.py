"""The server's signing key: two GnuPG homes in the data dir.

keys/sign holds the secret key (Portage signs each new package with it, FEATURES=binpkg-signing);
keys/verify holds the public key with ultimate ownertrust (Portage verifies what it just signed,
and only accepts fully or ultimately trusted keys).  keys/fingerprint names the key.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import write_atomic
from provision.portage.render import Signing
from provision.run import run

GPG = "gpg"


class SigningKeyError(ProvisionError):
    """No usable signing key."""


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    sign_home: Path
    verify_home: Path
    uid: str

    @property
    def signing(self) -> Signing:
        """The Signing context the make.conf renderer takes."""
        return Signing(str(self.sign_home), str(self.verify_home), self.fingerprint)


def _homes(keys_dir: Path) -> tuple[Path, Path, Path]:
    return keys_dir / "sign", keys_dir / "verify", keys_dir / "fingerprint"


def gpg_argv(home: Path, *args: str) -> list[str]:
    return [GPG, "--homedir", str(home), "--batch", "--no-tty", *args]


def _secret_fingerprints(home: Path) -> list[str]:
    out = run(gpg_argv(home, "--with-colons", "--list-secret-keys"), check=False).stdout
    fprs, in_sec = [], False
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            in_sec = True
        elif fields[0] == "fpr" and in_sec:
            fprs.append(fields[9])
            in_sec = False
    return fprs


def _uid_of(home: Path, fpr: str) -> str:
    out = run(gpg_argv(home, "--with-colons", "--list-keys", fpr), check=False).stdout
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "uid":
            return fields[9]
    return ""


def load_key(keys_dir: Path) -> KeyInfo:
    """The configured key; SigningKeyError (exit 2) when there is none or it is unusable."""
    sign, verify, fpr_file = _homes(keys_dir)
    if not fpr_file.is_file():
        raise SigningKeyError(
            f"{keys_dir}: no signing key (run `provision key --create`, or import your own with "
            "`provision key --import SECRET.asc`)"
        )
    fpr = fpr_file.read_text().strip()
    if fpr not in _secret_fingerprints(sign):
        raise SigningKeyError(
            f"{fpr_file}: the secret key {fpr or '(empty)'} is not in {sign} "
            "(re-import it with `provision key --import SECRET.asc`)"
        )
    return KeyInfo(fpr, sign, verify, _uid_of(sign, fpr))


def _prepare_homes(sign: Path, verify: Path) -> None:
    sign.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(sign, 0o700)
    verify.mkdir(parents=True, exist_ok=True)


def _private_files(home: Path) -> None:
    """What gpg made in the signing home (keyring, trustdb) is for the server's user alone."""
    for item in home.iterdir():
        if item.is_file() and not item.is_symlink():
            os.chmod(item, 0o600)


def _install_verify(sign: Path, verify: Path, fpr: str) -> None:
    """Put the public key into the verify home with ultimate ownertrust; world-readable."""
    public = export_from(sign, fpr)
    run(gpg_argv(verify, "--import"), input=public)
    run(gpg_argv(verify, "--import-ownertrust"), input=f"{fpr}:6:\n")
    # Update the trustdb now: the verifier (`nobody`) cannot write it later.
    run(gpg_argv(verify, "--check-trustdb"))
    # Portage verifies as `nobody` when run as root: the keyring must be readable.
    os.chmod(verify, 0o755)
    for item in verify.iterdir():
        if item.is_file():
            os.chmod(item, 0o644)


def create_key(keys_dir: Path, uid: str = "") -> KeyInfo:
    """Make a new ed25519 signing key (no passphrase: the server signs unattended)."""
    sign, verify, fpr_file = _homes(keys_dir)
    if fpr_file.exists():
        raise ConfigError(str(fpr_file), "a signing key already exists; refusing to replace it")
    _prepare_homes(sign, verify)
    uid = uid or f"provision binhost <provision@{socket.getfqdn() or 'localhost'}>"
    before = set(_secret_fingerprints(sign))
    run(
        gpg_argv(
            sign,
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        )
    )
    new = [f for f in _secret_fingerprints(sign) if f not in before]
    if len(new) != 1:
        raise SigningKeyError(f"{sign}: expected one new secret key, found {len(new)}")
    _private_files(sign)
    _install_verify(sign, verify, new[0])
    write_atomic(fpr_file, new[0] + "\n")
    return KeyInfo(new[0], sign, verify, uid)


def import_key(keys_dir: Path, secret_file: Path) -> KeyInfo:
    """Bring your own key: import a passphrase-less secret key (ASCII-armored or binary)."""
    sign, verify, fpr_file = _homes(keys_dir)
    if fpr_file.exists():
        raise ConfigError(str(fpr_file), "a signing key already exists; refusing to replace it")
    if not secret_file.is_file():
        raise ConfigError(
            str(secret_file), "no such file (a secret key export, gpg -a --export-secret-keys)"
        )
    _prepare_homes(sign, verify)
    before = set(_secret_fingerprints(sign))
    run(
        gpg_argv(
            sign, "--pinentry-mode", "loopback", "--passphrase", "", "--import", str(secret_file)
        )
    )
    new = [f for f in _secret_fingerprints(sign) if f not in before]
    if len(new) != 1:
        raise ConfigError(str(secret_file), f"expected exactly one secret key, found {len(new)}")
    _private_files(sign)
    _install_verify(sign, verify, new[0])
    write_atomic(fpr_file, new[0] + "\n")
    return KeyInfo(new[0], sign, verify, _uid_of(sign, new[0]))


def ensure_key(keys_dir: Path) -> KeyInfo:
    """The server's key, made on first run (when keys/ holds nothing yet)."""
    _, _, fpr_file = _homes(keys_dir)
    if not fpr_file.exists() and not (keys_dir / "sign").exists():
        return create_key(keys_dir)
    return load_key(keys_dir)


def export_from(home: Path, fpr: str) -> str:
    return run(gpg_argv(home, "--armor", "--export", fpr)).stdout


def export_public_key(info: KeyInfo) -> str:
    """The ASCII-armored public key, for clients' /etc/portage/gnupg."""
    return export_from(info.sign_home, info.fingerprint)


def stop_agents(keys_dir: Path) -> None:
    """Stop the gpg-agents GnuPG started for the key homes (tests, shutdown)."""
    for home in _homes(keys_dir)[:2]:
        if home.is_dir():
            run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
