"""File names on the medium: one POSIX path -> its ISO 9660, Rock Ridge and Joliet names (pure).

Rock Ridge carries the real name (Linux and GRUB read it); Joliet (Windows) is limited to 64
UCS-2 characters per component; plain ISO 9660 level 3 (what isolinux and firmware read) allows
A-Z, 0-9 and '_', one dot, 30 characters per file name and 31 per directory name.  Names that do
not fit are mangled; a collision in one directory gets a '~N' suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.errors import ConfigError

ISO_FILE_MAX = 30  # name + '.' + extension (Ecma-119 7.5.2, without the ';1')
ISO_DIR_MAX = 31
JOLIET_MAX = 64
MAX_DEPTH = 7  # directory levels below the root (Ecma-119 6.8.2.1)
_NOT_D1 = re.compile(r"[^A-Z0-9_]")
_NOT_JOLIET = re.compile("[\x00-\x1f*/:;?\\\\\ud800-\udfff\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class MediumPath:
    """Where one file or directory goes: the three names pycdlib wants."""

    posix: str  # "boot/grub/grub.cfg": the Rock Ridge path
    iso: str  # "/BOOT/GRUB/GRUB.CFG;1"
    joliet: str  # "/boot/grub/grub.cfg"

    @property
    def rr_name(self) -> str:
        return self.posix.rsplit("/", 1)[-1]


def _d1(text: str) -> str:
    return _NOT_D1.sub("_", text.upper())


def iso_file_name(name: str) -> str:
    """'hello-1.0-1.gpkg.tar' -> 'HELLO_1_0_1_GPKG.TAR' (before collision handling)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    stem, ext = _d1(stem), _d1(ext)[:8]
    room = ISO_FILE_MAX - (len(ext) + 1 if ext else 0)
    stem = stem[:room] or "_"
    return f"{stem}.{ext}" if ext else stem


def iso_dir_name(name: str) -> str:
    return _d1(name)[:ISO_DIR_MAX] or "_"


def _unique(candidate: str, taken: set[str], limit: int, is_file: bool) -> str:
    if candidate not in taken:
        return candidate
    stem, dot, ext = candidate.partition(".") if is_file else (candidate, "", "")
    n = 1
    while True:
        suffix = f"_{n}"  # '~' is not a d1 character
        room = limit - len(suffix) - (len(ext) + 1 if dot else 0)
        name = f"{stem[:room]}{suffix}" + (f".{ext}" if dot else "")
        if name not in taken:
            return name
        n += 1


def joliet_name(name: str) -> str:
    """The name in characters Joliet allows (UCS-2, without control characters and * / : ; ? \\):
    others become '_' (a byte that is not UTF-8, kept by Python as a lone surrogate, too)."""
    return _NOT_JOLIET.sub("_", name)


def _joliet_component(name: str, taken: set[str]) -> str:
    name = joliet_name(name)
    if len(name) <= JOLIET_MAX and name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    n = 0
    while True:
        suffix = f"~{n}" if n else ""
        room = JOLIET_MAX - len(suffix) - (len(ext) + 1 if ext else 0)
        cand = f"{stem[:room]}{suffix}" + (f".{ext}" if ext else "")
        if cand not in taken:
            return cand
        n += 1


@dataclass
class NameTable:
    """Assigns names to paths, parents first; remembers what each directory already holds."""

    _dirs: dict[str, tuple[str, str]] = field(default_factory=lambda: {"": ("", "")})
    _iso_taken: dict[str, set[str]] = field(default_factory=dict)
    _joliet_taken: dict[str, set[str]] = field(default_factory=dict)

    def add(self, posix: str, *, is_dir: bool) -> MediumPath:
        posix = posix.strip("/")
        parts = posix.split("/")
        if not posix or any(p in ("", ".", "..") for p in parts):
            raise ConfigError(posix or "/", "not a valid path on the medium")
        parent = "/".join(parts[:-1])
        if parent not in self._dirs:
            raise ConfigError(posix, "parent directory must be added first")
        depth = len(parts) if is_dir else len(parts) - 1
        if depth > MAX_DEPTH:
            raise ConfigError(posix, f"directories nested deeper than {MAX_DEPTH} levels")
        iso_parent, joliet_parent = self._dirs[parent]
        name = parts[-1]
        taken = self._iso_taken.setdefault(parent, set())
        if is_dir:
            iso_name = _unique(iso_dir_name(name), taken, ISO_DIR_MAX, False)
        else:
            iso_name = _unique(iso_file_name(name), taken, ISO_FILE_MAX, True)
        taken.add(iso_name)
        jtaken = self._joliet_taken.setdefault(parent, set())
        jname = _joliet_component(name, jtaken)
        jtaken.add(jname)
        iso = f"{iso_parent}/{iso_name}"
        joliet = f"{joliet_parent}/{jname}"
        if is_dir:
            self._dirs[posix] = (iso, joliet)
            return MediumPath(posix, iso, joliet)
        return MediumPath(posix, f"{iso};1", joliet)
