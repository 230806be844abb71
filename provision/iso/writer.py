"""Master an IsoPlan: lay it out, write every structure and file in place, rename (thin applier).

layout.py decides where everything goes and makes the directory records (pure); ecma119.py and
hybrid.py make the other structures' bytes (pure).  Here they are written into a temp file at
their offsets: the directories one at a time, each file's data copied by the kernel
(copy_file_range: no copy through this process, a reflink where the file system shares extents),
so an image of any size and any number of files is written with memory for its directory tree
only.  The boot file gets its boot info table; the isohybrid MBR and GPT go in last.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import atomic_output
from provision.iso import ecma119 as e
from provision.iso import hybrid
from provision.iso.layout import (
    BOOT_RECORD_BLOCK,
    CATALOG_BLOCK,
    JOLIET_BLOCK,
    PVD_BLOCK,
    TERMINATOR_BLOCK,
    Continuations,
    Layout,
    LayoutError,
    iso_records,
    joliet_records,
    lay_out,
    pack,
    path_table,
    volume,
)
from provision.iso.plan import IsoPlan, Progress

BLOCK = e.BLOCK
BIOS_LOAD_SECTORS = 4  # isolinux: load the first 2 KiB, it reads the rest itself
ISOHYBRID_SIGNATURE = (0x40, b"\xfb\xc0\x78\x70")  # in isolinux.bin: fit for an isohybrid MBR


class IsoError(ProvisionError):
    """The plan cannot be mastered as an image."""


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
    if not out.parent.is_dir():
        raise ConfigError(str(out), "its directory does not exist")
    index = {f.where.posix: i for i, f in enumerate(plan.files)}
    try:
        layout = lay_out(plan, e.when_of(time.time()))
        boot = _boot_file(plan, layout, index[plan.bios_boot.posix])
        mbr = plan.hybrid_mbr.read_bytes() if plan.hybrid_mbr is not None else None
    except (LayoutError, ValueError) as exc:
        raise IsoError(f"{out}: cannot build the image: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(exc.filename or out), f"cannot read: {exc.strerror}") from exc
    try:
        with atomic_output(out, mode) as tmp, open(tmp, "wb") as fh:
            fd = fh.fileno()
            _write_structures(fd, plan, layout, index)
            _write_files(fd, plan, layout, boot, index[plan.bios_boot.posix], progress)
            size = _write_system_area(fd, plan, layout, mbr, index)
    except OSError as exc:
        raise ConfigError(str(out), f"cannot write: {exc.strerror or exc}") from exc
    located = {posix: layout.placed.extents[index[posix]] * BLOCK for posix in locate}
    return size, located


def _boot_file(plan: IsoPlan, layout: Layout, i: int) -> bytes:
    """isolinux.bin with its boot info table (small: read whole)."""
    f = plan.files[i]
    data = f.data if f.source is None else f.source.read_bytes()
    assert data is not None
    if len(data) != f.size:
        raise ValueError(f"{f.source} changed while the image was written")
    if plan.hybrid_mbr is not None:
        at, signature = ISOHYBRID_SIGNATURE
        if data[at : at + len(signature)] != signature:
            raise ValueError(
                f"{f.source or f.where.posix} is not an isohybrid-capable isolinux.bin"
            )
    return e.boot_info_table(data, PVD_BLOCK, layout.placed.extents[i])


def _write_structures(fd: int, plan: IsoPlan, layout: Layout, index: dict[str, int]) -> None:
    tree, extents = layout.tree, layout.placed.extents
    efi_i = index[plan.efi_boot.posix]
    for block, data in (
        (
            PVD_BLOCK,
            e.volume_descriptor(volume(layout, plan.volume_id, joliet=False), joliet=False),
        ),
        (BOOT_RECORD_BLOCK, e.boot_record(CATALOG_BLOCK)),
        (
            JOLIET_BLOCK,
            e.volume_descriptor(volume(layout, plan.volume_id, joliet=True), joliet=True),
        ),
        (TERMINATOR_BLOCK, e.terminator()),
    ):
        os.pwrite(fd, data, block * BLOCK)
    catalog = e.boot_catalog(
        extents[index[plan.bios_boot.posix]],
        BIOS_LOAD_SECTORS,
        extents[efi_i],
        efi_sectors(plan.files[efi_i].size),
    )
    os.pwrite(fd, catalog, CATALOG_BLOCK * BLOCK)
    for (joliet, big), block in zip(
        ((False, False), (False, True), (True, False), (True, True)),
        layout.path_tables,
        strict=True,
    ):
        os.pwrite(fd, path_table(layout, joliet=joliet, big_endian=big), block * BLOCK)
    ce = Continuations(layout.ce_first)
    for d in tree.iso_order:
        data = pack(iso_records(plan, tree, d, layout.placed, ce))
        assert len(data) == tree.dirs[d].size
        os.pwrite(fd, data, tree.dirs[d].block * BLOCK)
    assert ce.blocks == layout.ce_blocks
    if ce.data:
        os.pwrite(fd, bytes(ce.data), layout.ce_first * BLOCK)
    for d in tree.joliet_order:
        data = pack(joliet_records(plan, tree, d, layout.placed))
        assert len(data) == tree.dirs[d].joliet_size
        os.pwrite(fd, data, tree.dirs[d].joliet_block * BLOCK)


def efi_sectors(size: int) -> int:
    """The ESP image's length in 512-byte sectors, whole blocks (the catalog and MBR count)."""
    return -(-size // BLOCK) * (BLOCK // 512)


def _write_files(
    fd: int, plan: IsoPlan, layout: Layout, boot: bytes, boot_index: int, progress: Progress | None
) -> None:
    total, done = plan.data_size, 0
    for i, f in enumerate(plan.files):
        offset = layout.placed.extents[i] * BLOCK
        if i == boot_index:
            os.pwrite(fd, boot, offset)
        elif f.source is None:
            os.pwrite(fd, f.data or b"", offset)
        else:
            with _open_source(f.source) as src:
                copy_range(src.fileno(), fd, offset, f.size, str(f.source))
        done += f.size
        if progress is not None:
            progress(done, total)
    end = layout.space_blocks * BLOCK
    os.ftruncate(fd, end)


def _open_source(path: Path) -> BinaryIO:
    """The file open for reading; an error names it (not the image)."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc


def _write_system_area(
    fd: int, plan: IsoPlan, layout: Layout, mbr: bytes | None, index: dict[str, int]
) -> int:
    iso_bytes = layout.space_blocks * BLOCK
    if mbr is None:
        return iso_bytes
    efi_i = index[plan.efi_boot.posix]
    head, tail, size = hybrid.system_area(
        mbr,
        hybrid.new_ids(),
        iso_bytes=iso_bytes,
        bios_block=layout.placed.extents[index[plan.bios_boot.posix]],
        efi_block=layout.placed.extents[efi_i],
        efi_sectors=efi_sectors(plan.files[efi_i].size),
    )
    os.ftruncate(fd, size)
    os.pwrite(fd, head, 0)
    os.pwrite(fd, tail, size - len(tail))
    return size


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
