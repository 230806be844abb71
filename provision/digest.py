"""SHA-256 for cache keys, without loading OpenSSL where Python carries its own implementation.

`import hashlib` loads OpenSSL's libcrypto: 3.4 MiB of resident memory in `provision iso`, a
process that otherwise needs about 20 MiB, to hash a few hundred bytes of cache key.  Python's
built-in SHA-256 (`_sha2` from 3.12, `_sha256` before) gives the same digests; hashlib is the
fallback where a build lacks it.  Hashing data in bulk (packages, images) stays with hashlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, cast


class Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


def _builtin() -> Callable[[bytes], Hash]:
    for name in ("_sha2", "_sha256"):
        try:
            return cast(Callable[[bytes], Hash], importlib.import_module(name).sha256)
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


def sha256(data: bytes = b"") -> Hash:
    """A new SHA-256 object (hashlib's interface: update, digest, hexdigest)."""
    return _builtin()(data)
