"""Per-profile binhost builder: build roots, passes, signing, publication.

Reusable API for other parts of provision:
- current_snapshot(data_dir, profile) -> Path | None: the published snapshot directory
  (binhost/ = PKGDIR with Packages; repo/<name>/ and repo.tar.gz = the matching ebuild repo).
- signing_key(data_dir) -> KeyInfo: the server's key (made on first use); export_public_key(info)
  -> the ASCII-armored public key; KeyInfo.verify_home is a GnuPG home that trusts it.
"""

from __future__ import annotations

from pathlib import Path

from provision.build.keys import KeyInfo, ensure_key, export_public_key
from provision.build.layout import DataLayout
from provision.build.publish import current_snapshot


def signing_key(data_dir: Path) -> KeyInfo:
    """The server's signing key, created in DATA_DIR/keys on first use."""
    return ensure_key(DataLayout(data_dir).keys)


__all__ = ["KeyInfo", "current_snapshot", "export_public_key", "signing_key"]
