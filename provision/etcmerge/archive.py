"""Archive of replaced config files (rotated), and --undo.

EROOT/var/lib/provision/etc-archive/<target path>/NNNNNN holds the versions a decision replaced,
newest = highest number; the last KEEP are kept.  Undo restores the newest one and takes it off
the archive; what the undo replaced is saved as `undone` next to them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from provision.errors import NotFound
from provision.etcmerge.target import Target
from provision.fsutil import atomic_output, write_atomic

ARCHIVE = "etc-archive"
KEEP = 5


def archive_dir(target: Target, tpath: str) -> Path:
    return target.state / ARCHIVE / tpath.lstrip("/")


def entries(target: Target, tpath: str) -> list[Path]:
    """Archived versions of tpath, oldest first."""
    d = archive_dir(target, tpath)
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def archive(target: Target, tpath: str, keep: int = KEEP) -> Path | None:
    """Copy the file on disk (content, mode, times) into the archive before it is replaced;
    drop the oldest copies beyond `keep`.  Returns the copy, or None if there is no file."""
    src = target.host(tpath)
    if not src.is_file():
        return None
    d = archive_dir(target, tpath)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = entries(target, tpath)
    seq = int(old[-1].name) + 1 if old else 1
    dest = d / f"{seq:06d}"
    with atomic_output(dest, src.stat().st_mode & 0o7777) as tmp:
        shutil.copy2(src, tmp)
    for stale in [*old, dest][:-keep] if keep > 0 else []:
        stale.unlink()
    return dest


def restore(target: Target, tpath: str) -> Path:
    """Put the newest archived version of tpath back; returns the archive entry used."""
    old = entries(target, tpath)
    if not old:
        raise NotFound(f"{tpath}: nothing archived (looked in {archive_dir(target, tpath)})")
    newest = old[-1]
    dest = target.host(tpath)
    if dest.is_file():
        shutil.copy2(dest, archive_dir(target, tpath) / "undone")
    st = newest.stat()
    write_atomic(dest, newest.read_bytes(), mode=st.st_mode & 0o7777)
    _chown(dest, st.st_uid, st.st_gid)
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    newest.unlink()
    return newest


def _chown(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
