"""Confinement of TFTP paths to the TFTP root.

`clean_path` is pure: it turns a requested name into a relative path or refuses it (`..`
components, NUL bytes, empty names, DOS drives and backslash roots).  A leading "/" means the
TFTP root, as for tftpd-hpa -s and dnsmasq: GRUB asks for "/grub/grub.cfg".
`resolve_in_root` adds the one check that needs the file system: the real path (symlinks
resolved) must stay inside the root.
"""

from __future__ import annotations

import os
from pathlib import Path

from provision.errors import ProvisionError


class PathRefused(ProvisionError):
    """A requested TFTP path that may not be served (the reason says why)."""

    def __init__(self, requested: str, reason: str) -> None:
        self.requested = requested
        self.reason = reason
        super().__init__(f"{requested!r}: {reason}")


def clean_path(requested: str) -> str:
    """The relative, normalised form of a requested TFTP name, or PathRefused.

    Backslashes count as separators when looking for `..`, so `..\\x` is refused too.
    """
    if not requested:
        raise PathRefused(requested, "empty file name")
    if "\0" in requested:
        raise PathRefused(requested, "NUL byte in file name")
    if requested.startswith("\\") or (len(requested) > 1 and requested[1] == ":"):
        raise PathRefused(requested, "absolute paths are not served")
    parts = [p for p in requested.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathRefused(requested, "'..' is not allowed")
    if not parts:
        raise PathRefused(requested, "names a directory")
    return "/".join(parts)


def resolve_in_root(root: Path, relative: str) -> Path:
    """root/relative with symlinks resolved; PathRefused if that leaves the root.

    `root` must already be absolute and resolved (Path.resolve()).
    """
    real = Path(os.path.realpath(root / relative))
    if real != root and root not in real.parents:
        raise PathRefused(relative, "leads out of the TFTP root (symlink)")
    return real
