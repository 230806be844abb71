"""Atomic file output: readers see the old file or the new one, never a part.

`atomic_output(path)` is the one way to make a file that must never be half-written: it yields
a temporary path in the same directory (so the rename is atomic), and on success fsyncs it,
sets its mode and renames it over `path`; on any error (or interrupt) the temporary is removed
and `path` is untouched.  `write_atomic` is the same for data already in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write it; it replaces `path` when the block ends.

    The temporary starts empty (created 0600, so secrets never show); a writer may also replace
    it wholesale (a tool's `-o TMP`).  On error it is removed and `path` stays as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write data to path so that readers see the old or the new content, never a part."""
    raw = data.encode() if isinstance(data, str) else data
    with atomic_output(path, mode) as tmp:
        tmp.write_bytes(raw)


def write_if_changed(path: Path, data: str | bytes, mode: int = 0o644) -> bool:
    """write_atomic unless path already holds exactly data (and mode); True if it wrote.

    For files rendered on every run (a build root's Portage config): unchanged inputs leave
    them untouched, with no fsync and no new mtime."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        st = path.stat()
        if st.st_size == len(raw) and st.st_mode & 0o7777 == mode and path.read_bytes() == raw:
            return False
    except OSError:
        pass
    write_atomic(path, raw, mode)
    return True


def copy_atomic(src: Path, dst: Path, mode: int | None = None) -> None:
    """Copy src to dst atomically, keeping src's times (and its mode unless one is given)."""
    st = src.stat()
    with atomic_output(dst, st.st_mode & 0o7777 if mode is None else mode) as tmp:
        shutil.copy2(src, tmp)


def symlink_atomic(target: str, link: Path) -> None:
    """Point link at target atomically (create a temp symlink, then rename over link)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
