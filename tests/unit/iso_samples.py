"""A sample stamp for the ISO tests (pure data)."""

from __future__ import annotations

from provision.iso.stamp import Stamp

KEY = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
)
STAMP = Stamp(
    server="http://192.0.2.1:8080",
    profile="desktop-amd64",
    public_key=KEY,
    mac="52:54:00:12:34:56",
    hostname="ws1",
    token="tok-EN_123",
    created="2024-01-01T00:00:00Z",
)
