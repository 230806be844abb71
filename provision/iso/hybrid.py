"""The isohybrid system area (pure): an MBR that boots isolinux from a USB stick, and a GPT whose
second partition is the ESP image, for UEFI firmware booting the stick.

This is the layout of syslinux's `isohybrid -u` (and xorriso's `-isohybrid-mbr isohdpfx.bin
-isohybrid-gpt-basdat`): the MBR's boot code is syslinux's isohdpfx.bin (432 bytes), followed by
the 512-byte LBA of isolinux.bin, which the code loads; MBR partition 1 spans the image
(type 0, bootable), partition 2 is the ESP (type 0xEF).  The GPT (128 entries at LBA 2, backup at
the end of the image) has partition 1 over the whole ISO and partition 2 over the ESP, both
"basic data".  The image is padded to whole 1 MiB cylinders (64 heads, 32 sectors), with room
after the ISO for the backup GPT.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

SECTOR = 512
SIGNATURE = b"EFI PART"
HEADS, SECTORS = 64, 32
CYLINDER = HEADS * SECTORS * SECTOR
MBR_CODE = 432
ENTRIES, ENTRY_SIZE = 128, 128
ARRAY_SECTORS = ENTRIES * ENTRY_SIZE // SECTOR  # 32
FIRST_USABLE = 2 + ARRAY_SECTORS  # 34
BASIC_DATA = bytes.fromhex(
    "a2a0d0ebe5b9334487c068b6b72699c7"
)  # EBD0A0A2-B9E5-4433-87C0-68B6B72699C7
EFI_CHS = b"\xfe\xff\xff\xef\xfe\xff\xff"  # partition 2's CHS and type: past the CHS limit


@dataclass(frozen=True)
class Ids:
    """The random identifiers of one image."""

    mbr: int  # 32 bits
    disk: bytes  # 16 bytes each
    iso_part: bytes
    esp_part: bytes


def random_guid() -> bytes:
    """A version 4 (random) GUID, as GPT stores it."""
    raw = bytearray(os.urandom(16))
    raw[7] = (raw[7] & 0x0F) | 0x40  # the version, in the third field (little-endian)
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return bytes(raw)


def new_ids() -> Ids:
    return Ids(int.from_bytes(os.urandom(4), "little"), random_guid(), random_guid(), random_guid())


def padded_size(iso_bytes: int) -> int:
    """The image's size: the ISO rounded up to whole cylinders, with the backup GPT after it."""
    need = iso_bytes + (ARRAY_SECTORS + 1) * SECTOR
    return -(-need // CYLINDER) * CYLINDER


def _mbr(
    code: bytes, ids: Ids, bios_block: int, efi_block: int, efi_sectors: int, size: int
) -> bytes:
    if len(code) != MBR_CODE:
        raise ValueError(f"isohybrid MBR code has {MBR_CODE} bytes, not {len(code)}")
    cylinders = size // CYLINDER
    last = min(cylinders, 1024) - 1  # CHS addresses stop at cylinder 1023
    whole = struct.pack(
        "<BBBBBBBBII",
        0x80, 0, 1, 0,  # bootable, CHS of sector 0
        0x00, HEADS - 1, SECTORS | ((last & 0x300) >> 2), last & 0xFF,
        0, size // SECTOR,
    )  # fmt: skip
    esp = b"\x00" + EFI_CHS + struct.pack("<II", efi_block * 4, efi_sectors)
    table = whole + esp + bytes(32)
    return code + struct.pack("<IIIH", bios_block * 4, 0, ids.mbr, 0) + table + b"\x55\xaa"


def _entry(part: bytes, first: int, last: int, name: str) -> bytes:
    return struct.pack(
        "<16s16sQQ8s72s", BASIC_DATA, part, first, last, b"", name.encode("utf-16-le")
    )


def _header(
    ids: Ids, current: int, backup: int, array: int, last_usable: int, entries: bytes
) -> bytes:
    """A GPT header (one sector) with its CRCs: of the whole partition array, of itself."""
    raw = bytearray(SECTOR)
    struct.pack_into(
        "<8sIIIIQQQQ16sQIII", raw, 0,
        SIGNATURE, 0x00010000, 92, 0, 0,
        current, backup, FIRST_USABLE, last_usable, ids.disk, array, ENTRIES, ENTRY_SIZE,
        zlib.crc32(entries),
    )  # fmt: skip
    struct.pack_into("<I", raw, 16, zlib.crc32(bytes(raw[:92])))
    return bytes(raw)


def system_area(
    code: bytes, ids: Ids, *, iso_bytes: int, bios_block: int, efi_block: int, efi_sectors: int
) -> tuple[bytes, bytes, int]:
    """(the first 34 sectors: MBR, GPT header and partition array; the last 33 sectors: the
    backup array and header; the image's padded size in bytes)."""
    size = padded_size(iso_bytes)
    last = size // SECTOR - 1
    entries = (
        _entry(ids.iso_part, 0, iso_bytes // SECTOR - 1, "ISOHybrid ISO")
        + _entry(ids.esp_part, efi_block * 4, efi_block * 4 + efi_sectors - 1, "ISOHybrid")
    ).ljust(ENTRIES * ENTRY_SIZE, b"\x00")
    last_usable = last - ARRAY_SECTORS - 1
    head = (
        _mbr(code, ids, bios_block, efi_block, efi_sectors, size)
        + _header(ids, 1, last, 2, last_usable, entries)
        + entries
    )
    tail = entries + _header(ids, last, 1, last - ARRAY_SECTORS, last_usable, entries)
    return head, tail, size
