"""Which profiles a directory holds: file names only, nothing parsed (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from provision.errors import NotFound


def profile_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def profile_path(directory: Path, name: str) -> Path:
    """The file of profile `name`; NotFound names the known ones."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        raise NotFound(f"unknown profile {name!r} (known: {known})")
    return path
