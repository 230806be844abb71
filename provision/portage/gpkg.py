"""Read Portage GPKG files (.gpkg.tar) without Portage: metadata and image, streamed.

A GPKG is an uncompressed tar holding <name>/gpkg-1, <name>/metadata.tar.zst,
<name>/image.tar.zst (each optionally with a .sig detached signature) and <name>/Manifest.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

import zstandard

from provision.errors import ProvisionError


class GpkgError(ProvisionError):
    """Not a readable GPKG file."""


class FileKind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices, fifos


@dataclass(frozen=True)
class ImageFile:
    path: str  # inside the installed system, e.g. /usr/bin/hello (EPREFIX included)
    kind: FileKind
    size: int
    mode: int
    sha256: str = ""  # regular files only
    target: str = ""  # links


def _member(tar: tarfile.TarFile, suffix: str, label: Path) -> tarfile.TarInfo:
    for info in tar.getmembers():
        if info.name.endswith("/" + suffix) and info.name.count("/") == 1:
            return info
    raise GpkgError(f"{label}: no {suffix} member (not a GPKG?)")


def signed(path: Path) -> bool:
    """True when both the metadata and the image carry a detached .sig."""
    try:
        with tarfile.open(path, "r:") as tar:
            names = {m.name.split("/", 1)[-1] for m in tar.getmembers()}
    except (OSError, tarfile.TarError) as exc:
        raise GpkgError(f"{path}: cannot read: {exc}") from exc
    return {"metadata.tar.zst.sig", "image.tar.zst.sig"} <= names


@contextmanager
def _inner(path: Path, suffix: str) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(path, "r:") as outer:
            raw = outer.extractfile(_member(outer, suffix, path))
            if raw is None:
                raise GpkgError(f"{path}: {suffix} is not a file")
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            with tarfile.open(fileobj=reader, mode="r|") as inner:
                yield inner
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise GpkgError(f"{path}: cannot read {suffix}: {exc}") from exc


def metadata(path: Path) -> dict[str, str]:
    """The package's metadata files (CATEGORY, PF, USE, CFLAGS, DEPEND, ...) as text.

    environment.bz2 (binary) is left out.
    """
    out: dict[str, str] = {}
    with _inner(path, "metadata.tar.zst") as tar:
        for info in tar:
            if info.isfile() and not info.name.endswith(".bz2"):
                fh = tar.extractfile(info)
                if fh is not None:
                    out[info.name.rsplit("/", 1)[-1]] = fh.read().decode(errors="replace")
    return out


def iter_image(
    path: Path, *, hash_files: bool = True
) -> Iterator[tuple[ImageFile, IO[bytes] | None]]:
    """(entry, open stream or None) for every member of the image; streams are read-once."""
    with _inner(path, "image.tar.zst") as tar:
        for info in tar:
            name = "/" + info.name.split("/", 1)[1] if "/" in info.name else "/"
            if info.isfile() and not info.name.endswith(".bz2"):
                fh = tar.extractfile(info)
                yield ImageFile(name, FileKind.FILE, info.size, info.mode), fh
            elif info.isdir():
                yield ImageFile(name, FileKind.DIR, 0, info.mode), None
            elif info.issym():
                yield ImageFile(name, FileKind.SYMLINK, 0, info.mode, target=info.linkname), None
            elif info.islnk():
                yield ImageFile(name, FileKind.HARDLINK, 0, info.mode, target=info.linkname), None
            else:
                yield ImageFile(name, FileKind.OTHER, 0, info.mode), None


def image_manifest(path: Path) -> list[ImageFile]:
    """Every image entry with the SHA-256 of regular files (for cross-verification)."""
    out = []
    for entry, fh in iter_image(path):
        if fh is not None:
            digest = hashlib.sha256()
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):  # type: ignore[misc]
                digest.update(chunk)
            entry = ImageFile(
                entry.path, entry.kind, entry.size, entry.mode, sha256=digest.hexdigest()
            )
        out.append(entry)
    return sorted(out, key=lambda e: e.path)
