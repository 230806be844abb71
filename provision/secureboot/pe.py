"""Reading PE/COFF images (EFI applications, kernels with the EFI stub): pure, bounds-checked.

What Secure Boot work needs: is an image signed (the certificate table's WIN_CERTIFICATE
entries, one per signature `sbsign` or a distribution added), and the data of a section (the
`.sbat` section GRUB must carry for shim).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProvisionError

PE32, PE32_PLUS = 0x10B, 0x20B
CERT_TABLE = 4  # the data directory entry of the certificate table (file offset + size)
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002


class PeError(ProvisionError):
    """Not a PE image, or a damaged one."""


@dataclass(frozen=True)
class Section:
    name: str
    raw_offset: int
    raw_size: int
    virtual_size: int


@dataclass(frozen=True)
class PeImage:
    machine: int
    sections: tuple[Section, ...]
    cert_offset: int
    cert_size: int


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def parse(data: bytes) -> PeImage:
    """The headers of a PE image; PeError when data is not one (or lies about its sizes)."""
    try:
        if data[:2] != b"MZ":
            raise PeError("no MZ header: not a PE image")
        pe = _u32(data, 0x3C)
        if data[pe : pe + 4] != b"PE\0\0":
            raise PeError("no PE signature: not a PE image")
        coff = pe + 4
        machine = _u16(data, coff)
        count = _u16(data, coff + 2)
        opt_size = _u16(data, coff + 16)
        opt = coff + 20
        magic = _u16(data, opt)
        if magic == PE32_PLUS:
            ndirs, dirs = _u32(data, opt + 108), opt + 112
        elif magic == PE32:
            ndirs, dirs = _u32(data, opt + 92), opt + 96
        else:
            raise PeError(f"unknown optional header magic {magic:#x}")
        cert_offset = cert_size = 0
        if ndirs > CERT_TABLE and dirs + 8 * (CERT_TABLE + 1) <= opt + opt_size:
            cert_offset = _u32(data, dirs + 8 * CERT_TABLE)
            cert_size = _u32(data, dirs + 8 * CERT_TABLE + 4)
        if cert_size and cert_offset + cert_size > len(data):
            raise PeError("the certificate table runs past the end of the image")
        sections = []
        table = opt + opt_size
        for i in range(count):
            at = table + 40 * i
            if at + 40 > len(data):
                raise PeError("the section table runs past the end of the image")
            name = data[at : at + 8].rstrip(b"\0").decode("ascii", "replace")
            vsize, _vaddr, raw_size, raw_offset = struct.unpack_from("<IIII", data, at + 8)
            if raw_offset + raw_size > len(data):
                raise PeError(f"section {name!r} runs past the end of the image")
            sections.append(Section(name, raw_offset, raw_size, vsize))
    except struct.error as exc:
        raise PeError(f"truncated PE image: {exc}") from exc
    return PeImage(machine, tuple(sections), cert_offset, cert_size)


def signatures(data: bytes) -> int:
    """How many Authenticode signatures (WIN_CERTIFICATE entries) the image carries."""
    image = parse(data)
    count, at, end = 0, image.cert_offset, image.cert_offset + image.cert_size
    while at + 8 <= end:
        length = _u32(data, at)
        if length < 8 or at + length > end:
            raise PeError(f"damaged certificate table entry at {at:#x}")
        if _u16(data, at + 6) == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            count += 1
        at += (length + 7) & ~7  # entries are 8-byte aligned
    return count


def file_signatures(path: Path) -> int:
    """signatures() of a file, mapped rather than read: only the pages of its headers and its
    certificate table are touched (a kernel is 8 MiB or more; its signatures are at the end)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise PeError("empty file: not a PE image")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return signatures(data)  # type: ignore[arg-type]


def section_data(data: bytes, name: str) -> bytes:
    """The bytes of the named section (its virtual size, when smaller than the raw size)."""
    for section in parse(data).sections:
        if section.name == name:
            size = min(section.raw_size, section.virtual_size or section.raw_size)
            return data[section.raw_offset : section.raw_offset + size]
    raise PeError(f"no {name} section")
