"""A binhost's Packages index (the read side: what clients install).  Light on purpose: the
server and `provision status` read indexes; verification (provision.snapshots.verify) needs gpg."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provision.errors import PublishError


@dataclass(frozen=True)
class Index:
    header: dict[str, str]
    entries: tuple[dict[str, str], ...]

    def cpvs(self) -> list[str]:
        return sorted(e.get("CPV", "") for e in self.entries)

    def identity(self) -> list[tuple[str, str, str]]:
        """What a client would install: (PATH, SIZE, SHA1) per entry, ignoring timestamps."""
        return sorted(
            (e.get("PATH", ""), e.get("SIZE", ""), e.get("SHA1", "")) for e in self.entries
        )


def parse_packages(text: str) -> Index:
    """Pure: Portage's Packages file (header stanza, then one stanza per package)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise PublishError(f"Packages: malformed line {line!r}")
        current[key.strip()] = value.strip()
    if current:
        stanzas.append(current)
    if not stanzas:
        return Index({}, ())
    return Index(stanzas[0], tuple(stanzas[1:]))


def read_index(pkgdir: Path) -> Index:
    path = pkgdir / "Packages"
    if not path.is_file():
        return Index({}, ())
    return parse_packages(path.read_text())
