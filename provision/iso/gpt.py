"""Repair the CRCs of the GPT that pycdlib's isohybrid writes (pure + a thin patcher).

pycdlib 1.22 computes the partition-array CRC over the used entries only, not over the whole
array the header declares, gives the backup array other partition GUIDs than the primary, and
the backup header another disk GUID, so `gdisk` reports a corrupt GPT ("main header's disk GUID
... doesn't match the backup GPT header's disk GUID").  Firmware boots the medium from the
MBR either way (the hybrid MBR is not protective), but partitioning tools and some firmware read
the GPT: after writing we copy the primary's disk GUID and partition array into the backup and
recompute every CRC.  `sgdisk -v` then reports what it reports for xorriso's isohybrid images
too: the hybrid MBR's partitions overlap, and the partition table overlaps partition 1 (which
starts at sector 0 and spans the whole image).
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

SECTOR = 512
SIGNATURE = b"EFI PART"
DISK_GUID = slice(56, 72)  # in a GPT header


def fixed_header(header: bytes, entries: bytes) -> bytes:
    """The header with its array CRC (over `entries`) and its own CRC recomputed."""
    size = struct.unpack_from("<I", header, 12)[0]
    out = bytearray(header)
    struct.pack_into("<I", out, 88, zlib.crc32(entries))
    struct.pack_into("<I", out, 16, 0)
    struct.pack_into("<I", out, 16, zlib.crc32(bytes(out[:size])))
    return bytes(out)


def with_disk_guid(header: bytes, disk_guid: bytes) -> bytes:
    """The header carrying disk_guid (16 bytes); its CRCs still need fixed_header()."""
    if len(disk_guid) != 16:
        raise ValueError(f"a disk GUID has 16 bytes, not {len(disk_guid)}")
    out = bytearray(header)
    out[DISK_GUID] = disk_guid
    return bytes(out)


def disk_guid(header: bytes) -> bytes:
    return header[DISK_GUID]


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
        fh.write(fixed_header(with_disk_guid(backup, disk_guid(primary)), entries))
    return True
