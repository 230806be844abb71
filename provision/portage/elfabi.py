"""The kernel ABI check: the ELF ABI note ("OS: Linux, ABI: x.y.z", `readelf -n`) of every ELF
file in a package against the profile's minimum target kernel (kernel.min_version)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection

from provision.portage import gpkg

Version = tuple[int, int, int]
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class AbiViolation:
    package: str  # the .gpkg.tar file name
    path: str  # the ELF file inside the package
    needs: Version

    def describe(self, minimum: Version) -> str:
        needs, have = fmt(self.needs), fmt(minimum)
        return f"{self.package}: {self.path} needs Linux {needs} (profile minimum {have})"


def parse_version(text: str) -> Version:
    parts = [int(p) for p in text.split(".")]
    parts += [0] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def fmt(version: Version) -> str:
    return ".".join(map(str, version))


def abi_note(stream: IO[bytes]) -> Version | None:
    """The highest Linux ABI version an ELF file's NT_GNU_ABI_TAG notes declare, or None."""
    try:
        elf = ELFFile(stream)
        best: Version | None = None
        for section in elf.iter_sections():
            if not isinstance(section, NoteSection):
                continue
            for note in section.iter_notes():
                if note["n_type"] != "NT_GNU_ABI_TAG":
                    continue
                desc = note["n_desc"]
                if desc.get("abi_os") != "ELF_NOTE_OS_LINUX":
                    continue
                version = (desc["abi_major"], desc["abi_minor"], desc["abi_tiny"])
                best = version if best is None or version > best else best
        return best
    except (ELFError, ValueError, KeyError, AttributeError):
        return None


def package_requirements(path: Path) -> Iterable[tuple[str, Version]]:
    """(file, required kernel) for every ELF file in a GPKG's image carrying an ABI note."""
    for entry, fh in gpkg.iter_image(path):
        if fh is None or entry.size < 64:
            continue
        head = fh.read(4)
        if head != ELF_MAGIC:
            continue
        data = io.BytesIO(head + fh.read())  # ELFFile needs random access
        version = abi_note(data)
        if version is not None:
            yield entry.path, version


def check_packages(packages: Iterable[Path], minimum: Version) -> list[AbiViolation]:
    """Every ELF file in the packages that needs a newer kernel than `minimum`."""
    out = []
    for pkg in packages:
        for path, needs in package_requirements(pkg):
            if needs > minimum:
                out.append(AbiViolation(pkg.name, path, needs))
    return out
