"""The server's Secure Boot signing key: an RSA key and its self-signed X.509 certificate.

DATA_DIR/keys/secureboot/ (0700):
    db.key   the private key, PEM, 0600 (the builder signs kernels with it, the server GRUB)
    db.crt   the certificate, PEM (SECUREBOOT_SIGN_CERT; firmware db / MOK enrolment)
    db.der   the same certificate, DER (what `mokutil --import` and firmware setup menus take)

Made on first use, like the package key (provision.signing), or brought in with
`provision secureboot-key --import KEY CERT`.  RSA-2048 with SHA-256 is what every firmware and
shim accept.  The builder's stage root sees the directory at /var/lib/provision/keys/secureboot
(the keys directory is bind-mounted there), which is where make.conf's SECUREBOOT_SIGN_KEY and
SECUREBOOT_SIGN_CERT point.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import write_atomic
from provision.run import run

DIR_NAME = "secureboot"
KEY, CERT, DER = "db.key", "db.crt", "db.der"
DAYS = 3650
BITS = 2048


class SecureBootKeyError(ProvisionError):
    """No usable Secure Boot key."""


@dataclass(frozen=True)
class SecureBootKey:
    directory: Path

    @property
    def key(self) -> Path:
        return self.directory / KEY

    @property
    def cert(self) -> Path:
        return self.directory / CERT

    @property
    def der(self) -> Path:
        return self.directory / DER


def key_dir(keys_dir: Path) -> Path:
    """DATA_DIR/keys/secureboot for DATA_DIR/keys."""
    return keys_dir / DIR_NAME


def default_subject(host: str = "") -> str:
    """The certificate's subject: names the server, so a firmware's key list says whose it is."""
    name = host or socket.getfqdn() or "localhost"
    safe = "".join(c for c in name if c.isalnum() or c in ".-")[:48] or "localhost"
    return f"/CN=provision Secure Boot signing key ({safe})/"


def req_argv(key: Path, cert: Path, subject: str, days: int = DAYS) -> list[str]:
    """openssl: a new RSA key and a self-signed certificate (pure)."""
    return [
        "openssl", "req", "-new", "-x509", "-newkey", f"rsa:{BITS}", "-nodes", "-sha256",
        "-days", str(days), "-subj", subject, "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip


def der_argv(cert: Path, der: Path) -> list[str]:
    return ["openssl", "x509", "-in", str(cert), "-outform", "DER", "-out", str(der)]


def load(keys_dir: Path) -> SecureBootKey:
    """The key; SecureBootKeyError when it is missing or incomplete."""
    made = SecureBootKey(key_dir(keys_dir))
    missing = [p.name for p in (made.key, made.cert, made.der) if not p.is_file()]
    if missing:
        raise SecureBootKeyError(
            f"{made.directory}: no Secure Boot key ({', '.join(missing)} missing; run "
            "`provision secureboot-key --create`, or --import KEY.pem CERT.pem)"
        )
    return made


def _install(directory: Path, key: Path, cert: Path) -> SecureBootKey:
    """Put key + cert (+ DER) in place: private key 0600 in a 0700 directory."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    made = SecureBootKey(directory)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".new-") as tmp_name:
        der = Path(tmp_name) / DER
        run(der_argv(cert, der))
        write_atomic(made.key, key.read_bytes(), 0o600)
        write_atomic(made.cert, cert.read_bytes(), 0o644)
        write_atomic(made.der, der.read_bytes(), 0o644)
    return made


def create(keys_dir: Path, subject: str = "") -> SecureBootKey:
    """A new key; refuses to replace an existing one."""
    directory = key_dir(keys_dir)
    if (directory / KEY).exists():
        raise ConfigError(str(directory / KEY), "a Secure Boot key exists; refusing to replace it")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".make-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o700)
        run(req_argv(tmp / KEY, tmp / CERT, subject or default_subject()))
        return _install(directory, tmp / KEY, tmp / CERT)


def _public_key(argv: list[str]) -> str:
    return run(argv, check=False).stdout.strip()


def import_key(keys_dir: Path, key: Path, cert: Path) -> SecureBootKey:
    """Bring your own: an unencrypted RSA private key (PEM) and its certificate (PEM)."""
    directory = key_dir(keys_dir)
    if (directory / KEY).exists():
        raise ConfigError(str(directory / KEY), "a Secure Boot key exists; refusing to replace it")
    for path, what in ((key, "private key (PEM)"), (cert, "certificate (PEM)")):
        if not path.is_file():
            raise ConfigError(str(path), f"no such file (the {what})")
    from_key = _public_key(["openssl", "pkey", "-in", str(key), "-pubout", "-passin", "pass:"])
    from_cert = _public_key(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"])
    if not from_key.startswith("-----BEGIN PUBLIC KEY"):
        raise ConfigError(str(key), "not an unencrypted PEM private key")
    if not from_cert.startswith("-----BEGIN PUBLIC KEY"):
        raise ConfigError(str(cert), "not a PEM certificate")
    if from_key != from_cert:
        raise ConfigError(str(cert), f"is not the certificate of {key}")
    text = run(["openssl", "x509", "-in", str(cert), "-noout", "-text"]).stdout
    if "rsaEncryption" not in text:
        raise ConfigError(str(cert), "not an RSA key (firmware and shim take RSA-2048)")
    return _install(directory, key, cert)


def ensure(keys_dir: Path) -> SecureBootKey:
    """The key, made on first use (concurrent callers wait for one)."""
    directory = key_dir(keys_dir)
    if (directory / DER).is_file():
        return load(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    with open(keys_dir / ".secureboot.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / KEY).exists():
            return create(keys_dir)
        return load(keys_dir)


def fingerprint(made: SecureBootKey) -> str:
    """SHA-256 of the DER certificate (what enrolment tools show), colon-separated."""
    out = run(["openssl", "x509", "-in", str(made.cert), "-noout", "-fingerprint", "-sha256"])
    return out.stdout.strip().partition("=")[2]


def subject_of(made: SecureBootKey) -> str:
    return run(["openssl", "x509", "-in", str(made.cert), "-noout", "-subject"]).stdout.strip()


def have_tools() -> bool:
    return shutil.which("openssl") is not None
