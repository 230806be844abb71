"""Builds: per-profile builder state, snapshots with rollback, the live log, and trigger,
hold and resume (all through provision.server.builds, the adapter to the builder)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provision.errors import ProvisionError
from provision.names import ProfileName, SnapshotId
from provision.server import builds as builder
from provision.server import services
from provision.server.app import settings_of
from provision.server.auth import audit, login_required
from provision.server.limits import REASON_MAX

bp = Blueprint("builds", __name__)
ACTIONS = ("trigger", "resume", "hold", "rollback")


def _profile_or_404(profile: ProfileName) -> ProfileName:
    if profile not in services.profiles().names():
        abort(404)
    return profile


@bp.get("/builds")
@login_required
def builds() -> str:
    data_dir = settings_of(current_app).data_dir
    views = [builder.view(data_dir, name) for name in services.profiles().names()]
    return render_template("builds.html", builds=views)


@bp.get("/builds/<profile:profile>")
@login_required
def build(profile: ProfileName) -> str:
    data_dir = settings_of(current_app).data_dir
    v = builder.view(data_dir, _profile_or_404(profile))
    metas = {sid: builder.snapshot_meta(data_dir, profile, sid) for sid in v.snapshots}
    return render_template("build.html", b=v, log=builder.log_tail(data_dir, profile), metas=metas)


@bp.post("/builds/<profile:profile>/<action>")
@login_required
def act(profile: ProfileName, action: str) -> Response:
    data_dir = settings_of(current_app).data_dir
    _profile_or_404(profile)
    if action not in ACTIONS:
        abort(404)
    detail = ""
    try:
        if action == "trigger":
            builder.trigger(data_dir, profile)
            flash(f"{profile}: a build pass is requested.")
        elif action == "resume":
            builder.resume(data_dir, profile)
            flash(f"{profile}: resumes with the next pass.")
        elif action == "hold":
            detail = (request.form.get("reason") or "held by the admin")[:REASON_MAX]
            builder.hold(data_dir, profile, detail)
            flash(f"{profile}: held (keeps serving the current snapshot).")
        else:
            wanted = request.form.get("snapshot", "")
            detail = builder.rollback(data_dir, profile, SnapshotId(wanted) if wanted else "")
            flash(f"{profile}: {detail} is current again.")
        audit(f"build-{action}", profile, detail)
    except ProvisionError as exc:
        flash(str(exc))
    return redirect(url_for("builds.build", profile=profile))
