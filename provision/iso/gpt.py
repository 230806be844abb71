"""Repair the CRCs of the GPT that pycdlib's isohybrid writes (pure + a thin patcher).

pycdlib 1.22 computes the partition-array CRC over the used entries only, not over the whole
array the header declares, and gives the backup array other partition GUIDs than the primary,
so `gdisk` reports a corrupt GPT.  Firmware boots the medium from the
MBR either way (the hybrid MBR is not protective), but partitioning tools and some firmware read
the GPT: we recompute both CRCs after writing.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

SECTOR = 512
SIGNATURE = b"EFI PART"


def fixed_header(header: bytes, entries: bytes) -> bytes:
    """The header with its array CRC (over `entries`) and its own CRC recomputed."""
    size = struct.unpack_from("<I", header, 12)[0]
    out = bytearray(header)
    struct.pack_into("<I", out, 88, zlib.crc32(entries))
    struct.pack_into("<I", out, 16, 0)
    struct.pack_into("<I", out, 16, zlib.crc32(bytes(out[:size])))
    return bytes(out)


def header_fields(header: bytes) -> tuple[int, int, int, int]:
    """(backup header LBA, partition array LBA, number of entries, entry size)."""
    backup = struct.unpack_from("<Q", header, 32)[0]
    array_lba = struct.unpack_from("<Q", header, 72)[0]
    count, entry_size = struct.unpack_from("<II", header, 80)
    return backup, array_lba, count, entry_size


def repair(fh: BinaryIO) -> bool:
    """Fix the primary and backup GPT headers of an image open for r+b; False if no GPT."""
    fh.seek(SECTOR)
    primary = fh.read(SECTOR)
    if primary[:8] != SIGNATURE:
        return False
    backup_lba, array_lba, count, entry_size = header_fields(primary)
    fh.seek(array_lba * SECTOR)
    entries = fh.read(count * entry_size)
    fh.seek(SECTOR)
    fh.write(fixed_header(primary, entries))
    fh.seek(backup_lba * SECTOR)
    backup = fh.read(SECTOR)
    if backup[:8] == SIGNATURE:
        backup_array = header_fields(backup)[1]
        fh.seek(backup_array * SECTOR)
        fh.write(entries)  # the backup array is a copy of the primary one
        fh.seek(backup_lba * SECTOR)
        fh.write(fixed_header(backup, entries))
    return True
