"""Which profiles a directory holds: file names only, nothing parsed (cheap to import).

Only files whose stem is a valid profile name (provision.names.ProfileName) count: any other
file is never served (the loader says why when it is loaded directly)."""

from __future__ import annotations

from pathlib import Path

from provision.errors import ConfigError, NotFound
from provision.names import PROFILE_NAME_MAX, ProfileName

# TOML files of a profiles directory that are not profiles (discovery rules: provision.fleet)
NOT_PROFILES = ("rules.toml",)


def profile_files(directory: Path) -> dict[str, Path]:
    files = {}
    for path in directory.glob("*.toml"):
        if path.name in NOT_PROFILES:
            continue
        try:
            files[str(ProfileName(path.stem))] = path
        except ConfigError:
            continue
    return files


def profile_names(directory: Path) -> list[str]:
    return sorted(profile_files(directory))


def profile_path(directory: Path, name: str) -> Path:
    """The file of profile `name`; NotFound names the known ones."""
    path = profile_files(directory).get(name) if isinstance(name, str) else None
    if path is None or not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        shown = name[:PROFILE_NAME_MAX] if isinstance(name, str) else name
        raise NotFound(f"unknown profile {shown!r} (known: {known})")
    return path
