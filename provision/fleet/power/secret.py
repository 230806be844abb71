"""BMC passwords at rest: encrypted with a key derived from the server's secret key.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key made by HKDF-SHA256 from
the secret key, so the database alone (a backup, a copied file) does not give the passwords
away.  A changed secret key makes the stored passwords unreadable: the error says to set them
again.  Nothing here logs a password or puts one into an exception message.
"""

from __future__ import annotations

import base64
from typing import Any

from provision.errors import ConfigError

INFO = b"provision power credentials v1"


def _fernet(secret_key: str) -> Any:
    try:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError as exc:  # pragma: no cover - the power extra is missing
        raise ConfigError(
            "power", "storing BMC passwords needs the power extra: pip install 'provision[power]'"
        ) from exc
    if len(secret_key) < 16:
        raise ConfigError("secret_key", "too short to encrypt BMC passwords")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, password: str) -> str:
    """The password encrypted (a Fernet token, ASCII)."""
    token: bytes = _fernet(secret_key).encrypt(password.encode())
    return token.decode("ascii")


def unseal(secret_key: str, token: str) -> str:
    """The password back; ConfigError (without the token) when it cannot be decrypted."""
    from cryptography.fernet import InvalidToken

    try:
        data: bytes = _fernet(secret_key).decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError) as exc:
        raise ConfigError(
            "power.password",
            "the stored BMC password cannot be decrypted (was the server's secret key "
            "changed?): set the password again",
        ) from exc
    return data.decode()
