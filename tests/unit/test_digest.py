"""digest.sha256: the digests of hashlib's, without loading OpenSSL where Python has its own."""

from __future__ import annotations

import hashlib

from provision import digest


def test_same_digests_as_hashlib() -> None:
    for data in (b"", b"abc", bytes(range(256)) * 100):
        h = digest.sha256(data[:10])
        h.update(data[10:])
        assert h.hexdigest() == hashlib.sha256(data).hexdigest()
        assert h.digest() == hashlib.sha256(data).digest()


def test_python_s_own_implementation_not_openssl_s() -> None:
    assert type(digest.sha256()).__module__ in ("_sha2", "_sha256")  # not _hashlib (OpenSSL)
