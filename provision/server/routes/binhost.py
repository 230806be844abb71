"""The published binhosts over HTTP: what a stock Portage client needs.

    GET /binhost/<profile>/<path>           the current snapshot's PKGDIR (Packages, GPKGs)
    GET /repo/<profile>/snapshot.tar.gz     the repository snapshot those packages came from
    GET /repo/<profile>/<id>.tar.gz         the same for a given snapshot
    GET /image/<profile>/<id|current>/<f>   the snapshot's system image (issue 12)
    GET /key.asc                            the public key clients verify packages with
Every answer from a snapshot carries X-Provision-Snapshot: <id>.  The current link is resolved
per request, so a flip is visible at once and a response never mixes two snapshots' files.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_file

from provision.errors import ProvisionError
from provision.names import ProfileName, SnapshotId
from provision.server.app import settings_of
from provision.signing import export_public_key, load_key
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot

bp = Blueprint("binhost", __name__)


def _data_dir() -> Path:
    return settings_of(current_app).data_dir


def _snapshot(profile: ProfileName, snapshot_id: SnapshotId | None = None) -> Path:
    if snapshot_id is not None:
        snap = DataLayout(_data_dir()).snapshots(profile) / snapshot_id
        if not (snap / "meta.json").is_file():
            abort(404)
        return snap
    cur = current_snapshot(_data_dir(), profile)
    if cur is None:
        abort(404)
    return cur


def _send(snap: Path, directory: Path, relative: str, mimetype: str | None = None) -> Response:
    """A file of `directory` (inside the snapshot): confined to that directory, symlinks
    resolved; anything else (outside, missing, not a file, unreadable name) is 404."""
    try:
        base = directory.resolve()
        target = (directory / relative).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            abort(404)
    except (OSError, ValueError):  # a name the file system refuses (too long, NUL)
        abort(404)
    resp = send_file(target, mimetype=mimetype or "application/octet-stream", conditional=True)
    resp.headers["X-Provision-Snapshot"] = snap.name
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/binhost/<profile:profile>/<relpath:path>")
def binhost_file(profile: ProfileName, path: str) -> Response:
    snap = _snapshot(profile)
    mimetype = "text/plain" if path == "Packages" else None
    return _send(snap, snap / "binhost", path, mimetype)


@bp.get("/repo/<profile:profile>/<name>.tar.gz")
def repo_tarball(profile: ProfileName, name: str) -> Response:
    try:
        wanted = None if name == "snapshot" else SnapshotId(name)
    except ProvisionError:
        abort(404)
    snap = _snapshot(profile, wanted)
    return _send(snap, snap, "repo.tar.gz", "application/gzip")


@bp.get("/key.asc")
def public_key() -> Response:
    try:
        info = load_key(DataLayout(_data_dir()).keys)
    except ProvisionError:
        abort(404)
    return Response(export_public_key(info), mimetype="application/pgp-keys")


IMAGE_FILES = ("system.tar.zst", "system.tar.zst.manifest", "system.tar.zst.manifest.asc")


@bp.get("/image/<profile:profile>/<snapshot>/<name>")
def image_file(profile: ProfileName, snapshot: str, name: str) -> Response:
    """The system image of a snapshot ("current" or an id): installers read the manifest from
    current, then pin the image to the snapshot the X-Provision-Snapshot header names."""
    if name not in IMAGE_FILES:
        abort(404)
    try:
        wanted = None if snapshot == "current" else SnapshotId(snapshot)
    except ProvisionError:
        abort(404)
    snap = _snapshot(profile, wanted)
    return _send(snap, snap / "image", name)
