"""The build farm for the admin: the workers page (tokens: create, revoke; heartbeats, what each
runs, flags, queue lengths), its JSON twins, and the farm panels of the builds pages.

GET  /farm                             the workers page
POST /farm/workers                     name=NAME: a new worker token (shown once)
POST /farm/workers/<name>/revoke
GET  /api/v1/farm                      {enabled, workers, queues, slots}
GET  /api/v1/farm/passes/<pass>        a pass, its slots and the lease history
GET  /api/v1/farm/packages/<profile>   verification counts per package
POST /api/v1/farm/workers              {name} -> {name, token}
DELETE /api/v1/farm/workers/<name>     revoke
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request
from flask import url_for as flask_url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from provision.errors import ConfigError, NotFound
from provision.farm.model import pass_id, worker_name
from provision.names import ProfileName
from provision.server import services
from provision.server.auth import login_required
from provision.server.farm_services import build_settings, farm, farm_store
from provision.server.farm_view import packages, pass_detail, summary

bp = Blueprint("farm_admin", __name__)


@bp.app_context_processor
def _farm_helpers() -> dict[str, Any]:
    """For builds.html and build.html: the farm panel and per-package verifications."""

    def farm_summary() -> dict[str, Any]:
        return summary(farm_store(), farm())

    def farm_packages(profile: str) -> list[dict[str, Any]]:
        return packages(farm_store(), profile, build_settings().verifications_for(profile))

    return {"farm_summary": farm_summary, "farm_packages": farm_packages}


@bp.get("/farm")
@login_required
def workers_page() -> str:
    return render_template("farm.html", farm=summary(farm_store(), farm()))


@bp.post("/farm/workers")
@login_required
def create_worker() -> WerkzeugResponse:
    try:
        name = worker_name(request.form.get("name", "").strip())
        token = farm_store().create_worker(name)
        flash(f"Worker {name}: token {token} (shown once: give it to `provision worker --token`)")
    except ConfigError as exc:
        flash(str(exc))
    return redirect(flask_url_for("farm_admin.workers_page"))


@bp.post("/farm/workers/<name>/revoke")
@login_required
def revoke_worker(name: str) -> WerkzeugResponse:
    try:
        farm_store().revoke_worker(worker_name(name))
        flash(f"Worker {name}: token revoked; its passes go to other workers.")
    except (ConfigError, NotFound) as exc:
        flash(str(exc))
    return redirect(flask_url_for("farm_admin.workers_page"))


# --- JSON ---------------------------------------------------------------------------------------
@bp.get("/api/v1/farm")
@login_required
def farm_json() -> Response:
    return jsonify(summary(farm_store(), farm()))


@bp.get("/api/v1/farm/passes/<pass_>")
@login_required
def pass_json(pass_: str) -> tuple[Response, int]:
    try:
        return jsonify(pass_detail(farm_store(), pass_id(pass_))), 200
    except (ConfigError, NotFound) as exc:
        return jsonify(error=str(exc)), 404


@bp.get("/api/v1/farm/packages/<profile:profile>")
@login_required
def packages_json(profile: ProfileName) -> Response:
    if profile not in services.profiles().names():
        abort(404)
    required = build_settings().verifications_for(profile)
    return jsonify(
        profile=profile, required=required, packages=packages(farm_store(), profile, required)
    )


@bp.post("/api/v1/farm/workers")
@login_required
def create_worker_json() -> tuple[Response, int]:
    data = request.get_json(silent=True)
    try:
        name = worker_name(data.get("name") if isinstance(data, dict) else None)
        return jsonify(name=name, token=farm_store().create_worker(name)), 201
    except ConfigError as exc:
        return jsonify(error=str(exc)), 400


@bp.delete("/api/v1/farm/workers/<name>")
@login_required
def revoke_worker_json(name: str) -> tuple[str | Response, int]:
    try:
        farm_store().revoke_worker(worker_name(name))
    except ConfigError as exc:
        return jsonify(error=str(exc)), 400
    except NotFound as exc:
        return jsonify(error=str(exc)), 404
    return "", 204
