"""The bytes of an ISO 9660 image's structures (pure): directory records with their Rock Ridge
entries, path table entries, volume descriptors, the El Torito boot catalog and boot info table.

Ecma-119 (ISO 9660) for the filesystem, IEEE P1282 (Rock Ridge 1.09, SUSP 1.10) for the POSIX
names and modes Linux and GRUB read, Joliet (UCS-2 names, 64 characters) for Windows, El Torito
1.0 for booting from a CD.  Numbers are little-endian, big-endian or both ("both-endian": the
little-endian value then the big-endian one), as each field says.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

BLOCK = 2048
MAX_RECORD = 255  # a directory record's length is one byte
MAX_EXTENT = 0xFFFFF800  # the largest data length of one extent that is a whole number of blocks
FLAG_DIR = 0x02
FLAG_MULTI_EXTENT = 0x80  # more records of the same file follow
S_IFDIR, S_IFREG = 0o040000, 0o100000

# Rock Ridge 1.09's extension record ("RRIP_1991A", what mkisofs and pycdlib write for 1.09).
RR_ID = b"RRIP_1991A"
RR_DESCRIPTOR = (
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
)
RR_SOURCE = (
    b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  "
    b"SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
)
CE_LEN = 28
NM_CONTINUE = 0x01
TF_MODIFY_ACCESS_ATTRIBUTES = 0x0E
RR_FLAGS = 0x89  # "RR": PX, NM, TF recorded


def both16(n: int) -> bytes:
    return struct.pack("<H", n) + struct.pack(">H", n)


def both32(n: int) -> bytes:
    return struct.pack("<I", n) + struct.pack(">I", n)


@dataclass(frozen=True)
class When:
    """One moment, in the two forms the standard uses."""

    record: bytes  # 7 bytes: directory records, Rock Ridge TF
    volume: bytes  # 17 bytes: volume descriptors


def when_of(epoch: float) -> When:
    import time

    t = time.gmtime(epoch)
    record = bytes((t.tm_year - 1900, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0))
    text = time.strftime("%Y%m%d%H%M%S00", t).encode()
    return When(record, text + b"\x00")


NO_DATE = b"0" * 16 + b"\x00"


# -- Rock Ridge / SUSP entries ---------------------------------------------------------------


def sp() -> bytes:
    return b"SP\x07\x01\xbe\xef\x00"


def rr() -> bytes:
    return b"RR\x05\x01" + bytes((RR_FLAGS,))


def px(mode: int, links: int) -> bytes:
    return b"PX\x24\x01" + both32(mode) + both32(links) + both32(0) + both32(0)


def tf(when: When) -> bytes:
    body = bytes((TF_MODIFY_ACCESS_ATTRIBUTES,)) + when.record * 3
    return b"TF" + bytes((4 + len(body), 1)) + body


def nm(name: bytes) -> list[bytes]:
    """NM entries for a name (split: an entry is at most 255 bytes)."""
    room = MAX_RECORD - 5
    chunks = [name[i : i + room] for i in range(0, len(name), room)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        flags = NM_CONTINUE if i < len(chunks) - 1 else 0
        out.append(b"NM" + bytes((5 + len(chunk), 1, flags)) + chunk)
    return out


def er() -> bytes:
    head = bytes((len(RR_ID), len(RR_DESCRIPTOR), len(RR_SOURCE), 1))
    body = head + RR_ID + RR_DESCRIPTOR + RR_SOURCE
    return b"ER" + bytes((4 + len(body), 1)) + body


def ce(block: int, offset: int, length: int) -> bytes:
    return b"CE\x1c\x01" + both32(block) + both32(offset) + both32(length)


# -- directory records ------------------------------------------------------------------------


def record_head_len(ident: bytes) -> int:
    n = 33 + len(ident)
    return n + (n & 1)


def record(
    ident: bytes, extent: int, size: int, flags: int, when: When, system_use: bytes = b""
) -> bytes:
    """One directory record (Ecma-119 9.1): identifier padded to even, then system use."""
    head_len = record_head_len(ident)
    su = system_use + (b"\x00" if len(system_use) & 1 else b"")
    length = head_len + len(su)
    if length > MAX_RECORD:
        raise ValueError(f"directory record of {length} bytes for {ident!r}")
    head = (
        bytes((length, 0))
        + both32(extent)
        + both32(size)
        + when.record
        + bytes((flags, 0, 0))
        + both16(1)
        + bytes((len(ident),))
        + ident
    )
    return head.ljust(head_len, b"\x00") + su


def split_system_use(
    ident: bytes, entries: Sequence[bytes], keep: int = 0
) -> tuple[list[bytes], list[bytes]]:
    """(entries that fit in the record, entries for a continuation area): the first `keep`
    entries always stay; the rest move, in order, once the record would exceed 255 bytes with
    room kept for the CE entry pointing to them."""
    head = record_head_len(ident)
    total = head + sum(len(e) for e in entries)
    if total + (total & 1) <= MAX_RECORD:
        return list(entries), []
    inline = list(entries[:keep])
    used = head + sum(len(e) for e in inline) + CE_LEN
    i = keep
    while i < len(entries) and used + len(entries[i]) + 1 <= MAX_RECORD:
        used += len(entries[i])
        inline.append(entries[i])
        i += 1
    return inline, list(entries[i:])


# -- path tables --------------------------------------------------------------------------------


def path_entry(ident: bytes, extent: int, parent: int, big_endian: bool) -> bytes:
    end = ">" if big_endian else "<"
    entry = bytes((len(ident), 0)) + struct.pack(f"{end}IH", extent, parent) + ident
    return entry + (b"\x00" if len(ident) & 1 else b"")


def path_entry_len(ident: bytes) -> int:
    return 8 + len(ident) + (len(ident) & 1)


# -- volume descriptors --------------------------------------------------------------------------


def _text(value: str, size: int, joliet: bool) -> bytes:
    if joliet:
        data = value.encode("utf-16-be")[: size - size % 2]
        return data + " ".encode("utf-16-be") * ((size - len(data)) // 2) + b" " * (size % 2)
    return value.encode("ascii")[:size].ljust(size, b" ")


@dataclass(frozen=True)
class Volume:
    volume_id: str
    space_blocks: int
    path_table_size: int
    l_table: int
    m_table: int
    root: bytes  # the root's directory record (34 bytes)
    when: When


def volume_descriptor(v: Volume, *, joliet: bool) -> bytes:
    """The primary (ISO 9660 names) or the Joliet supplementary volume descriptor."""
    out = bytearray(BLOCK)
    out[0:7] = (b"\x02" if joliet else b"\x01") + b"CD001\x01"
    out[8:40] = _text("", 32, joliet)
    out[40:72] = _text(v.volume_id, 32, joliet)
    out[80:88] = both32(v.space_blocks)
    if joliet:
        out[88:91] = b"%/E"  # UCS-2 level 3
    out[120:124] = both16(1)
    out[124:128] = both16(1)
    out[128:132] = both16(BLOCK)
    out[132:140] = both32(v.path_table_size)
    out[140:144] = struct.pack("<I", v.l_table)
    out[148:152] = struct.pack(">I", v.m_table)
    out[156:190] = v.root
    for start, size in ((190, 128), (318, 128), (446, 128), (574, 128)):
        out[start : start + size] = _text("", size, joliet)
    for start in (702, 739, 776):
        out[start : start + 37] = _text("", 37, joliet)
    out[813:830] = v.when.volume
    out[830:847] = v.when.volume
    out[847:864] = NO_DATE
    out[864:881] = v.when.volume
    out[881] = 1
    return bytes(out)


def boot_record(catalog_block: int) -> bytes:
    out = bytearray(BLOCK)
    out[0:7] = b"\x00CD001\x01"
    out[7:39] = b"EL TORITO SPECIFICATION".ljust(32, b"\x00")
    out[71:75] = struct.pack("<I", catalog_block)
    return bytes(out)


def terminator() -> bytes:
    return b"\xffCD001\x01".ljust(BLOCK, b"\x00")


# -- El Torito ----------------------------------------------------------------------------------

PLATFORM_X86, PLATFORM_EFI = 0x00, 0xEF
BOOTABLE, NO_EMULATION = 0x88, 0x00


def boot_catalog(bios_block: int, bios_sectors: int, efi_block: int, efi_sectors: int) -> bytes:
    """Validation entry, the BIOS default entry, one final EFI section with one entry."""
    validation = bytearray(struct.pack("<BBH24sHBB", 1, PLATFORM_X86, 0, b"", 0, 0x55, 0xAA))
    checksum = -sum(struct.unpack("<16H", bytes(validation))) & 0xFFFF
    struct.pack_into("<H", validation, 28, checksum)
    default = struct.pack(
        "<BBHBBHI20s", BOOTABLE, NO_EMULATION, 0, 0, 0, bios_sectors, bios_block, b""
    )
    section = struct.pack("<BBH28s", 0x91, PLATFORM_EFI, 1, b"")
    efi = struct.pack(
        "<BBHBBHI20s", BOOTABLE, NO_EMULATION, 0, 0, 0, min(efi_sectors, 0xFFFF), efi_block, b""
    )
    return (bytes(validation) + default + section + efi).ljust(BLOCK, b"\x00")


def boot_info_table(data: bytes, pvd_block: int, file_block: int) -> bytes:
    """The boot file with its boot info table (bytes 8-63: where the PVD and the file are, its
    length, the sum of its 32-bit words from byte 64) filled in, as isolinux expects."""
    if len(data) < 64:
        raise ValueError("a boot file with a boot info table has at least 64 bytes")
    tail = data[64:]
    tail += b"\x00" * (-len(tail) % 4)
    checksum = sum(struct.unpack(f"<{len(tail) // 4}I", tail)) & 0xFFFFFFFF
    table = struct.pack("<IIII40s", pvd_block, file_block, len(data), checksum, b"")
    return data[:8] + table + data[64:]
