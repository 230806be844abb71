"""Per-host media from a cached per-profile base: copy the base, write the stamp into its slots.

Two media of one profile (and one live environment, bootloader set and server key) differ only
in the stamp files (plan.STAMP_PATHS: config.toml and the two boot menus).  The
first medium of a profile is mastered as usual (writer.py), but with each stamp file in a
reserved slot of SLOT bytes (a placeholder), and kept under DATA_DIR/cache/iso as the base,
with the byte offset of each slot.  Every medium after that is a fast copy of the base (a
reflink where the file system can, else copy_file_range in the kernel) with the stamp files
written into their slots, padded with newlines to the slot's size (every stamp file is text
that ends in a newline: blank lines change nothing for TOML, isolinux or GRUB).  No
directory record changes, so the filesystem stays exactly as it was mastered.

A stamp file bigger than its slot (a very long host list in a menu) or an offline medium (its
snapshot is the bulk of it) is mastered from scratch, as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from provision import digest
from provision.errors import ConfigError
from provision.fsutil import atomic_output, write_atomic
from provision.iso.plan import STAMP_PATHS, IsoPlan, Progress

SLOT = 16 * 1024
PLACEHOLDER = b"# provision: stamp slot\n".ljust(SLOT, b"\n")
FORMAT = "2"  # bump when the base's layout rules change
KEEP = 8  # bases kept (most recently used)
FICLONE = 0x40049409  # linux/fs.h: share the source's extents (btrfs, XFS)


def padded(data: bytes) -> bytes | None:
    """The stamp file as it goes into its slot, or None when it does not fit."""
    if len(data) > SLOT:
        return None
    return data.ljust(SLOT, b"\n")


def slotted(plan: IsoPlan) -> tuple[IsoPlan, dict[str, bytes]] | None:
    """(the base's plan: stamp files replaced by placeholders, the padded stamp files), or
    None when a stamp file does not fit its slot (pure)."""
    stamps: dict[str, bytes] = {}
    files = []
    for f in plan.files:
        if f.where.posix in STAMP_PATHS:
            content = padded(f.data or b"")
            if content is None:
                return None
            stamps[f.where.posix] = content
            f = replace(f, data=PLACEHOLDER, size=SLOT)
        files.append(f)
    if set(stamps) != set(STAMP_PATHS):
        return None
    return replace(plan, files=tuple(files)), stamps


def base_key(base: IsoPlan) -> str:
    """What identifies a base: every path, mode and size, each source file's identity (path,
    size, mtime, inode) and each generated file's bytes."""
    h = digest.sha256(f"{FORMAT}\0{base.volume_id}\0".encode())
    for d in base.dirs:
        h.update(f"D {d.posix}\0".encode())
    for f in base.files:
        h.update(f"F {f.where.posix} {f.mode:o} {f.size}\0".encode())
        if f.source is not None:
            st = f.source.stat()
            h.update(f"{f.source} {st.st_size} {st.st_mtime_ns} {st.st_ino}\0".encode())
        else:
            h.update(digest.sha256(f.data or b"").digest())
    for p in (base.bios_boot, base.boot_catalog, base.efi_boot):
        h.update(f"B {p.posix}\0".encode())
    if base.hybrid_mbr is not None:  # by identity, like every source file (no read)
        st = base.hybrid_mbr.stat()
        h.update(f"M {base.hybrid_mbr} {st.st_size} {st.st_mtime_ns} {st.st_ino}\0".encode())
    return h.hexdigest()[:32]


def write_per_host(
    plan: IsoPlan,
    out: Path,
    cache_dir: Path,
    progress: Progress | None = None,
    *,
    mode: int = 0o644,
) -> int | None:
    """Write the medium from the cached base (made first if missing, with progress); returns
    its size, or None when this plan cannot use a base (then master it from scratch).  Errors
    name `out`, as mastering it would."""
    try:
        return _write_per_host(plan, out, cache_dir, progress, mode)
    except ConfigError as exc:
        raise ConfigError(str(out), exc.message) from exc
    except OSError as exc:
        raise ConfigError(str(out), f"cannot write: {exc.strerror or exc}") from exc


def _write_per_host(
    plan: IsoPlan, out: Path, cache_dir: Path, progress: Progress | None, mode: int
) -> int | None:
    split = slotted(plan)
    if split is None:
        return None
    base_plan, stamps = split
    key = base_key(base_plan)
    image, slots_file = cache_dir / f"base-{key}.iso", cache_dir / f"base-{key}.json"
    slots = _valid_slots(image, slots_file)
    if slots is None:
        slots = _make_base(base_plan, image, slots_file, progress)
    with atomic_output(out, mode) as tmp:
        size = fast_copy(image, tmp)
        with open(tmp, "r+b") as fh:
            for posix, offset in slots.items():
                fh.seek(offset)
                fh.write(stamps[posix])
    os.utime(image)  # most recently used: kept by _prune
    if progress is not None:
        progress(size, size)
    return size


def _valid_slots(image: Path, slots_file: Path) -> dict[str, int] | None:
    """The base's slot offsets when base and map exist and agree (each slot holds the
    placeholder); None otherwise."""
    try:
        data = json.loads(slots_file.read_text())
        slots = {str(k): int(v) for k, v in data["slots"].items()}
        with open(image, "rb") as fh:
            if os.fstat(fh.fileno()).st_size != int(data["size"]):
                return None
            for offset in slots.values():
                fh.seek(offset)
                if fh.read(SLOT) != PLACEHOLDER:
                    return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return slots if set(slots) == set(STAMP_PATHS) else None


def _make_base(
    base_plan: IsoPlan, image: Path, slots_file: Path, progress: Progress | None
) -> dict[str, int]:
    from provision.iso.writer import write_iso  # only when a base is made

    image.parent.mkdir(parents=True, exist_ok=True)
    _prune(image.parent)
    size, extents = write_iso(base_plan, image, progress, mode=0o600, locate=STAMP_PATHS)
    slots = {posix: extents[posix] for posix in STAMP_PATHS}
    write_atomic(slots_file, json.dumps({"size": size, "slots": slots}), mode=0o600)
    return slots


def _prune(cache_dir: Path) -> None:
    bases = sorted(cache_dir.glob("base-*.iso"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in bases[KEEP - 1 :]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def fast_copy(src: Path, dst: Path) -> int:
    """Copy src over dst (which exists): a reflink where the file system shares extents, else
    copy_file_range (the kernel copies); returns the size."""
    import fcntl

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return size
        except OSError:
            pass
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except OSError:
            fin.seek(copied)
            fout.seek(copied)
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
                copied += len(chunk)
        return copied
