"""The chunk manifest of an image: sizes and SHA-256 of every fixed-size chunk of the file.

Signed (GnuPG, detached) by the server, it lets an installer verify each chunk of a streamed
download before a byte of it is used, with no temporary copy of the whole image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from provision.errors import ProvisionError

FORMAT = "provision-image-manifest 1"
DEFAULT_CHUNK = 4 << 20


class ImageError(ProvisionError):
    """An image is missing, malformed, or fails verification."""


@dataclass(frozen=True)
class Manifest:
    name: str  # the image file's name
    size: int
    chunk_size: int
    chunks: tuple[str, ...]  # sha256 hex per chunk
    sha512: str  # of the whole file
    profile: str = ""
    snapshot: str = ""

    def render(self) -> str:
        lines = [
            FORMAT,
            f"name {self.name}",
            f"profile {self.profile}",
            f"snapshot {self.snapshot}",
            f"size {self.size}",
            f"chunk-size {self.chunk_size}",
            f"sha512 {self.sha512}",
            *(f"chunk {c}" for c in self.chunks),
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        lines = text.splitlines()
        if not lines or lines[0] != FORMAT:
            raise ImageError(f"not an image manifest (expected {FORMAT!r} on the first line)")
        fields: dict[str, str] = {}
        chunks: list[str] = []
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            if key == "chunk":
                chunks.append(value)
            else:
                fields[key] = value
        try:
            manifest = cls(
                name=fields["name"],
                size=int(fields["size"]),
                chunk_size=int(fields["chunk-size"]),
                chunks=tuple(chunks),
                sha512=fields["sha512"],
                profile=fields.get("profile", ""),
                snapshot=fields.get("snapshot", ""),
            )
        except (KeyError, ValueError) as exc:
            raise ImageError(f"image manifest: missing or bad field ({exc})") from exc
        expected = -(-manifest.size // manifest.chunk_size) if manifest.size else 0
        if manifest.chunk_size <= 0 or len(chunks) != expected:
            raise ImageError(f"image manifest: {len(chunks)} chunks listed, {expected} expected")
        return manifest


def describe(fh: BinaryIO, name: str, *, chunk_size: int = DEFAULT_CHUNK, **extra: str) -> Manifest:
    """The manifest of an image file, read once."""
    whole = hashlib.sha512()
    chunks = []
    size = 0
    while block := fh.read(chunk_size):
        whole.update(block)
        chunks.append(hashlib.sha256(block).hexdigest())
        size += len(block)
    return Manifest(name, size, chunk_size, tuple(chunks), whole.hexdigest(), **extra)


def verified_chunks(fh: BinaryIO, manifest: Manifest) -> Iterator[bytes]:
    """The file's chunks, each checked against the manifest before it is yielded."""
    whole = hashlib.sha512()
    for index, expected in enumerate(manifest.chunks):
        block = _read_exactly(
            fh, min(manifest.chunk_size, manifest.size - index * manifest.chunk_size)
        )
        if hashlib.sha256(block).hexdigest() != expected:
            raise ImageError(
                f"{manifest.name}: chunk {index} (at byte {index * manifest.chunk_size}) is corrupt"
            )
        whole.update(block)
        yield block
    if fh.read(1):
        raise ImageError(f"{manifest.name}: longer than its manifest says ({manifest.size} bytes)")
    if whole.hexdigest() != manifest.sha512:
        raise ImageError(f"{manifest.name}: SHA-512 of the whole image does not match")


def _read_exactly(fh: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        block = fh.read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    data = b"".join(parts)
    if n > 0:
        raise ImageError("image is shorter than its manifest says (truncated download?)")
    return data
