"""Publication: a verified, immutable snapshot per successful pass and an atomic `current` flip.

snapshots/<profile>/<id>/binhost     the PKGDIR (Packages, Packages.gz, the indexed GPKGs)
snapshots/<profile>/<id>/repo/<name> the repository snapshot the packages were built from
snapshots/<profile>/<id>/repo.tar.gz the same, as one file for clients
snapshots/<profile>/<id>/meta.json   what was published
snapshots/<profile>/current -> <id>  the only thing that changes what clients see
A snapshot is assembled in .incoming-<id>, verified, renamed, and only then made current.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from pathlib import Path

from provision.errors import NotFound, PublishError
from provision.fsutil import atomic_output, fsync_dir, symlink_atomic, write_atomic
from provision.signing import KeyInfo
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_id, list_snapshots
from provision.snapshots.verify import check_binhost, read_index

INCOMING = ".incoming-"


def cleanup_incoming(layout: DataLayout, profile: str) -> None:
    """Remove what an interrupted publication left behind (never visible to clients)."""
    base = layout.snapshots(profile)
    if base.is_dir():
        for p in base.iterdir():
            if p.name.startswith(INCOMING):
                shutil.rmtree(p, ignore_errors=True)
        for p in base.glob(".current.*.tmp"):
            p.unlink(missing_ok=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _tar_repo(repo: Path, out: Path) -> None:
    with atomic_output(out) as tmp, tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        for child in sorted(repo.iterdir()):
            tar.add(child, arcname=child.name)


def publish(
    layout: DataLayout,
    profile: str,
    snapshot_id: str,
    staging: Path,
    repo_dir: Path,
    key: KeyInfo,
    meta: dict[str, object],
    keep: int,
    image: Path | None = None,
) -> Path:
    """Assemble, verify, rename, flip.  repo_dir (moved into the snapshot) holds <name>/ trees;
    image, a directory with the system image and its signed manifest, becomes image/ (moved
    when it is this pass's, hard-linked when it is the previous snapshot's)."""
    base = layout.snapshots(profile)
    base.mkdir(parents=True, exist_ok=True)
    final = base / snapshot_id
    if final.exists():
        raise PublishError(f"{final}: snapshot already exists")
    incoming = base / f"{INCOMING}{snapshot_id}"
    shutil.rmtree(incoming, ignore_errors=True)
    binhost = incoming / "binhost"
    binhost.mkdir(parents=True)
    index = read_index(staging)
    for entry in index.entries:
        rel = entry.get("PATH", "")
        if not rel or not (staging / rel).is_file():
            raise PublishError(f"{staging}: {entry.get('CPV')}: indexed file {rel!r} is missing")
        _link_or_copy(staging / rel, binhost / rel)
    for name in ("Packages", "Packages.gz"):
        if (staging / name).is_file():
            shutil.copy2(staging / name, binhost / name)
    checked = check_binhost(binhost, key.verify_home, key.fingerprint)
    os.replace(repo_dir, incoming / "repo")
    _tar_repo(incoming / "repo", incoming / "repo.tar.gz")
    if image is not None:
        if image.resolve().is_relative_to(base.resolve()):  # a published image: link, never move
            (incoming / "image").mkdir()
            for item in image.iterdir():
                _link_or_copy(item, incoming / "image" / item.name)
        else:
            os.replace(image, incoming / "image")
    meta = {
        **meta,
        "id": snapshot_id,
        "profile": profile,
        "published": time.time(),
        "fingerprint": key.fingerprint,
        "packages": checked.cpvs(),
    }
    write_atomic(incoming / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    fsync_dir(incoming)
    os.replace(incoming, final)
    fsync_dir(base)
    symlink_atomic(snapshot_id, layout.current_link(profile))
    fsync_dir(base)
    prune(layout, profile, keep)
    return final


def prune(layout: DataLayout, profile: str, keep: int) -> list[str]:
    """Remove all but the newest `keep` snapshots (never the current one)."""
    ids = list_snapshots(layout, profile)
    cur = current_id(layout, profile)
    removed = []
    for sid in ids[: max(0, len(ids) - keep)]:
        if sid != cur:
            shutil.rmtree(layout.snapshots(profile) / sid, ignore_errors=True)
            removed.append(sid)
    return removed


def rollback(layout: DataLayout, profile: str, snapshot_id: str = "") -> str:
    """Make an older snapshot current (default: the one before the current)."""
    ids = list_snapshots(layout, profile)
    if not ids:
        raise NotFound(f"profile {profile!r} has no published snapshots")
    cur = current_id(layout, profile)
    if not snapshot_id:
        older = [s for s in ids if s < cur] if cur else []
        if not older:
            raise NotFound(f"{profile}: no snapshot older than the current {cur or '(none)'}")
        snapshot_id = older[-1]
    if snapshot_id not in ids:
        raise NotFound(f"{profile}: no snapshot {snapshot_id!r} (have: {', '.join(ids)})")
    symlink_atomic(snapshot_id, layout.current_link(profile))
    return snapshot_id
