""" "Last shipped" versions of protected files, kept under the target's /var/lib.

Portage remembers only checksums (CONTENTS, confmem); the three-way merge needs the text of
the version the package shipped last.  provision keeps a copy of it in
EROOT/var/lib/provision/etc-shipped/<target path>, written at install (record_baseline) and
after every decision on an update.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from provision.etcmerge.target import Protect, Target
from provision.fsutil import write_atomic

SHIPPED = "etc-shipped"


def read_text(path: Path) -> str | None:
    """A file's text (undecodable bytes kept via surrogateescape), or None if it is missing."""
    try:
        return path.read_bytes().decode(errors="surrogateescape")
    except FileNotFoundError:
        return None


def encode(text: str) -> bytes:
    return text.encode(errors="surrogateescape")


def shipped_path(target: Target, tpath: str) -> Path:
    return target.state / SHIPPED / tpath.lstrip("/")


def read_shipped(target: Target, tpath: str) -> str | None:
    return read_text(shipped_path(target, tpath))


def record_shipped(target: Target, tpath: str, text: str) -> None:
    """Remember `text` as what the package shipped last for tpath (private: configs may hold
    secrets)."""
    path = shipped_path(target, tpath)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if read_text(path) != text:
        write_atomic(path, encode(text), mode=0o600)


@dataclass(frozen=True)
class ContentsEntry:
    tpath: str
    md5: str


def parse_contents(text: str, target: Target) -> Iterator[ContentsEntry]:
    """Pure-ish: the regular files of a vdb CONTENTS file ("obj PATH MD5 MTIME"; PATH is below
    ROOT and includes EPREFIX), as target paths.  Files outside EROOT are skipped."""
    eroot = str(target.eroot).rstrip("/")
    for line in text.splitlines():
        if not line.startswith("obj "):
            continue
        parts = line[4:].rsplit(" ", 2)
        if len(parts) != 3:
            continue
        path, md5, _mtime = parts
        host = (str(target.root).rstrip("/") + path) if str(target.root) != "/" else path
        if eroot and host != eroot and not host.startswith(eroot + "/"):
            continue
        yield ContentsEntry("/" + host[len(eroot) :].lstrip("/"), md5)


def installed_contents(target: Target) -> Iterator[ContentsEntry]:
    vdb = target.eroot / "var/db/pkg"
    for contents in sorted(vdb.glob("*/*/CONTENTS")):
        yield from parse_contents(contents.read_text(errors="surrogateescape"), target)


@dataclass
class Baseline:
    recorded: list[str] = field(default_factory=list)  # copied as shipped (or already were)
    pending: list[str] = field(default_factory=list)  # a ._cfg update waits: left for etc-merge
    modified: list[str] = field(default_factory=list)  # differs from CONTENTS: cannot record


def md5_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def record_baseline(target: Target, protect: Protect) -> Baseline:
    """Copy every protected file that is on disk exactly as its installed package shipped it
    (its md5 matches the package's CONTENTS) into the shipped store.

    Run it after install; etc-merge also runs it first, so updates Portage applied by itself
    (config-protect-if-modified) are picked up.
    """
    out = Baseline()
    for entry in installed_contents(target):
        if not protect.covers(entry.tpath):
            continue
        host = target.host(entry.tpath)
        if _has_cfg(host):
            out.pending.append(entry.tpath)
        elif md5_of(host) == entry.md5:
            text = read_text(host)
            if text is not None:
                record_shipped(target, entry.tpath, text)
                out.recorded.append(entry.tpath)
        else:
            out.modified.append(entry.tpath)
    return out


def _has_cfg(host: Path) -> bool:
    try:
        names = os.listdir(host.parent)
    except OSError:
        return False
    return any(n.startswith("._cfg") and n[10:] == host.name for n in names)
