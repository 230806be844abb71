"""Published snapshots by id, for mirrors and caches (the same routes serve a mirror's copy).

    GET /snapshots/index.json                 {profiles: {NAME: {current, snapshots}}}
    GET /snapshots/<profile>/current          the current snapshot's id (text)
    GET /snapshots/<profile>/<id>/<path>      a file of that snapshot: binhost/..., repo.tar.gz,
                                              image/..., meta.json
A snapshot never changes once published, so its files are served with
`Cache-Control: public, max-age=31536000, immutable` and an ETag; the pointers (index.json,
current) live for a few seconds only.  /binhost/<profile>/ (binhost.py) stays the "current"
view for clients that do not pin a snapshot.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, send_file
from werkzeug.wrappers import Response as WerkzeugResponse

from provision.errors import ConfigError
from provision.names import ProfileName, SnapshotId
from provision.server.app import settings_of
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_id, list_snapshots

bp = Blueprint("snapshots", __name__)
IMMUTABLE = "public, max-age=31536000, immutable"
POINTER = "public, max-age=5"


def _layout(app: Flask | None = None) -> DataLayout:
    return DataLayout(settings_of(app or current_app).data_dir)


def profiles_published(layout: DataLayout) -> list[str]:
    base = layout.data_dir / "snapshots"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _is_profile(p.name))


def _is_profile(name: str) -> bool:
    try:
        ProfileName(name)
    except ConfigError:
        return False
    return True


@bp.get("/snapshots/index.json")
def index() -> Response:
    layout = _layout()
    resp = jsonify(
        profiles={
            p: {"current": current_id(layout, p), "snapshots": list_snapshots(layout, p)}
            for p in profiles_published(layout)
        }
    )
    resp.headers["Cache-Control"] = POINTER
    return resp


@bp.get("/snapshots/<profile:profile>/current")
def current(profile: ProfileName) -> WerkzeugResponse:
    sid = current_id(_layout(), profile)
    if not sid:
        abort(404)
    resp = Response(sid + "\n", mimetype="text/plain")
    resp.headers["Cache-Control"] = POINTER
    resp.set_etag(sid)
    return resp.make_conditional(request)


@bp.get("/snapshots/<profile:profile>/<snapshot:snapshot>/<relpath:rel>")
def snapshot_file(profile: ProfileName, snapshot: SnapshotId, rel: str) -> Response:
    base = _layout().snapshots(profile) / snapshot
    if snapshot == "current" or not (base / "meta.json").is_file():
        abort(404)
    try:
        root = base.resolve()
        target = (base / rel).resolve()
    except (OSError, ValueError):
        abort(404)
    if not target.is_relative_to(root) or not target.is_file():
        abort(404)
    resp = send_file(target, mimetype="application/octet-stream", conditional=True, etag=True)
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.headers["X-Provision-Snapshot"] = snapshot
    return resp
