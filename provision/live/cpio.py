"""A streaming writer of cpio "newc" archives (what the Linux kernel unpacks as initramfs).

Entries are written one at a time to a binary file object; file data is copied in chunks, so
memory stays flat whatever the archive's size.
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: a directory, a regular file (from `source` or `data`), or a symlink."""

    name: str  # path inside the archive, no leading slash
    mode: int  # full st_mode (type bits + permissions)
    source: Path | None = None
    data: bytes = b""
    target: str = ""  # symlink target
    mtime: int = 0
    rdev: tuple[int, int] = (0, 0)  # device nodes: (major, minor)

    @property
    def size(self) -> int:
        if stat.S_ISLNK(self.mode):
            return len(self.target.encode())
        if stat.S_ISREG(self.mode):
            return self.source.stat().st_size if self.source else len(self.data)
        return 0


def directory(name: str, perm: int = 0o755) -> Entry:
    return Entry(name, stat.S_IFDIR | perm)


def file(name: str, *, data: bytes = b"", source: Path | None = None, perm: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | perm, source=source, data=data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target=target)


def chardev(name: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def header(entry: Entry, ino: int) -> bytes:
    """The 110-byte newc header plus the NUL-terminated, 4-byte-padded name (pure)."""
    name = entry.name.lstrip("/").encode() + b"\0"
    fields = [
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        2 if stat.S_ISDIR(entry.mode) else 1,  # nlink
        entry.mtime,
        entry.size,
        0,  # devmajor
        0,  # devminor
        entry.rdev[0],
        entry.rdev[1],
        len(name),
        0,  # check
    ]
    head = _MAGIC + b"".join(b"%08X" % f for f in fields) + name
    return head + b"\0" * (-len(head) % 4)


class CpioWriter:
    """cpio newc to a binary stream: add() entries, then close() writes the trailer."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._ino = 1
        self._written = 0

    def _out(self, data: bytes) -> None:
        self._fh.write(data)
        self._written += len(data)

    def add(self, entry: Entry) -> None:
        self._out(header(entry, self._ino))
        self._ino += 1
        size = entry.size
        if stat.S_ISLNK(entry.mode):
            self._out(entry.target.encode())
        elif stat.S_ISREG(entry.mode):
            if entry.source is not None:
                with open(entry.source, "rb") as src:
                    shutil.copyfileobj(src, self._fh, 1 << 20)
                self._written += size
            else:
                self._out(entry.data)
        self._out(b"\0" * (-size % 4))

    def close(self) -> None:
        self.add(Entry(_TRAILER, 0))
        # The kernel reads initramfs in 512-byte blocks; pad like GNU cpio does.
        self._out(b"\0" * (-self._written % 512))
