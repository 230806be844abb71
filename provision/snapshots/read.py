"""The read side of published snapshots, used by the server, the installer and the CLI.

snapshots/<profile>/<id>/{binhost,repo,repo.tar.gz,image,meta.json}   immutable
snapshots/<profile>/current -> <id>                                  what clients see
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from provision.snapshots.index import Index, read_index
from provision.snapshots.layout import DataLayout


def current_id(layout: DataLayout, profile: str) -> str:
    link = layout.current_link(profile)
    return os.readlink(link) if link.is_symlink() else ""


def current_snapshot(data_dir: Path, profile: str) -> Path | None:
    """The directory of the profile's current snapshot ({binhost,repo,repo.tar.gz}), or None."""
    layout = DataLayout(data_dir)
    sid = current_id(layout, profile)
    path = layout.snapshots(profile) / sid
    return path if sid and path.is_dir() else None


def list_snapshots(layout: DataLayout, profile: str) -> list[str]:
    base = layout.snapshots(profile)
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )


def read_meta(snapshot: Path) -> dict[str, object]:
    try:
        data = json.loads((snapshot / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def current_index(layout: DataLayout, profile: str) -> Index:
    snap = current_snapshot(layout.data_dir, profile)
    return read_index(snap / "binhost") if snap else Index({}, ())
