"""Master an IsoPlan with pycdlib: stream every file, write a temp file, rename (thin applier).

pycdlib writes the filesystem (directories, boot records, hybrid MBR/GPT) and the small files;
the data of a tree's big files (an offline medium's snapshot, a stage tarball: `streamed`) is
not copied through Python: pycdlib lays out their extents, then the kernel copies each file
into its extent (copy_file_range), so a medium of any size is written without its data passing
through (or staying in) this process's memory.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, cast

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import atomic_output
from provision.iso import gpt
from provision.iso.plan import IsoPlan, Progress
from provision.iso.stamp import SNAPSHOT_DIR, STAGE_DIR

S_IFREG = 0o100000
BLOCK = 2048
STREAMED_DIRS = (f"{SNAPSHOT_DIR}/", f"{STAGE_DIR}/")


class IsoError(ProvisionError):
    """pycdlib refused the image."""


class _Hole:
    """The data pycdlib writes for a streamed file: none (the extent is filled afterwards)."""

    mode = "rb"

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""


_HOLE = cast(BinaryIO, _Hole())  # all pycdlib calls: seek, tell, read
STREAM_MIN = 64 * 1024  # smaller files are cheaper through pycdlib than one more system call


def streamed_files(plan: IsoPlan) -> frozenset[str]:
    """The files whose data the kernel copies (pure): a tree's, big enough to be worth it."""
    return frozenset(
        f.where.posix
        for f in plan.files
        if f.source is not None and f.where.posix.startswith(STREAMED_DIRS) and f.size >= STREAM_MIN
    )


def master(plan: IsoPlan, streamed: frozenset[str] = frozenset()) -> pycdlib.PyCdlib:
    """A pycdlib object holding the plan; file data is only read when it is written out (the
    `streamed` files' data not at all: see copy_extents)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=plan.volume_id)
    for d in plan.dirs:
        iso.add_directory(d.iso, rr_name=d.rr_name, joliet_path=d.joliet)
    for f in plan.files:
        w = f.where
        mode = S_IFREG | f.mode
        if w.posix in streamed:
            iso.add_fp(
                _HOLE, f.size, w.iso, rr_name=w.rr_name, joliet_path=w.joliet, file_mode=mode
            )
        elif f.source is not None:
            # add_file opens the file only while writing: no descriptor per file is held.
            iso.add_file(
                str(f.source), w.iso, rr_name=w.rr_name, joliet_path=w.joliet, file_mode=mode
            )
        else:
            data = f.data or b""
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                w.iso,
                rr_name=w.rr_name,
                joliet_path=w.joliet,
                file_mode=mode,
            )
    cat = plan.boot_catalog
    iso.add_eltorito(
        plan.bios_boot.iso,
        bootcatfile=cat.iso,
        rr_bootcatname=cat.rr_name,
        joliet_bootcatfile=cat.joliet,
        boot_load_size=4,
        boot_info_table=True,
    )
    iso.add_eltorito(plan.efi_boot.iso, efi=True, platform_id=0xEF)
    iso.add_isohybrid(efi=True)
    return iso


def write_iso(
    plan: IsoPlan,
    out: Path,
    progress: Progress | None = None,
    *,
    mode: int = 0o644,
    locate: tuple[str, ...] = (),
) -> tuple[int, dict[str, int]]:
    """Write the image to `out` atomically (with `mode`; 0600 for an image carrying a host
    token); returns its size and the byte offset of each file in `locate` (the stamp slots of
    a cached base).  No partial file on any error."""
    for f in plan.files:
        if f.source is not None and not os.access(f.source, os.R_OK):
            raise ConfigError(str(f.source), f"cannot read (needed for /{f.where.posix})")
    streamed = streamed_files(plan)
    try:
        iso = master(plan, streamed)
    except PyCdlibException as exc:
        raise IsoError(f"{out}: cannot build the image: {exc}") from exc
    if not out.parent.is_dir():
        raise ConfigError(str(out), "its directory does not exist")
    copies = [(f.source, f.where, f.size) for f in plan.files if f.where.posix in streamed]
    later = sum(size for _, _, size in copies)
    cb = (lambda done, total, _opaque: progress(done, total + later)) if progress else None
    try:
        with atomic_output(out, mode) as tmp, open(tmp, "w+b") as fh:
            iso.write_fp(fh, progress_cb=cb)
            extents = [
                (src, iso.get_record(iso_path=w.iso).extent_location() * BLOCK, size)
                for src, w, size in copies
            ]
            located = {
                posix: iso.get_record(iso_path=plan.file(posix).where.iso).extent_location() * BLOCK
                for posix in locate
            }
            iso.close()
            fh.flush()
            copy_extents(fh.fileno(), extents, progress, fh.seek(0, os.SEEK_END) - later)
            gpt.repair(fh)
            fh.flush()
            size = fh.seek(0, os.SEEK_END)
    except PyCdlibException as exc:
        raise IsoError(f"{out}: cannot build the image: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(out), f"cannot write: {exc.strerror or exc}") from exc
    return size, located


def copy_extents(
    out_fd: int,
    extents: list[tuple[Path | None, int, int]],
    progress: Progress | None = None,
    done: int = 0,
) -> None:
    """Copy each (source file, offset in the image, size) into the image, in the kernel."""
    total = done + sum(size for _, _, size in extents)
    for source, offset, size in extents:
        assert source is not None
        with open(source, "rb") as src:
            copy_range(src.fileno(), out_fd, offset, size, str(source))
        done += size
        if progress is not None:
            progress(done, total)


def copy_range(src_fd: int, out_fd: int, offset: int, size: int, name: str) -> None:
    """size bytes from the start of src_fd to out_fd at offset: copy_file_range (no copy in
    user space; a reflink where the file system shares extents), else pread/pwrite."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(src_fd, out_fd, size - copied, copied, offset + copied)
            if n == 0:
                break
            copied += n
    except OSError:  # another file system, an old kernel: copy in user space
        while copied < size:
            data = os.pread(src_fd, min(1 << 20, size - copied), copied)
            if not data:
                break
            os.pwrite(out_fd, data, offset + copied)
            copied += len(data)
    if copied != size:
        raise ConfigError(name, f"changed while the image was written ({copied} of {size} bytes)")
