"""Admin login and logout (session cookie), and what every template gets (csrf_token, admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from provision.server.app import settings_of
from provision.server.auth import (
    check_csrf,
    csrf_token,
    is_admin,
    log_in,
    log_out,
    password_ok,
    safe_next,
)

bp = Blueprint("auth", __name__)


@bp.record_once
def _cookie_settings(state: BlueprintSetupState) -> None:
    # Lax: the session cookie is not sent on cross-site POSTs (CSRF tokens are the main guard).
    state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    state.app.config["SESSION_COOKIE_HTTPONLY"] = True


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "is_admin": is_admin}


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target)
    check_csrf()
    stored = settings_of(current_app).admin_password_hash
    if not stored:
        flash("No admin password is set: run `provision admin-password` on the server.")
        return render_template("login.html", next=target), 401
    if not password_ok(stored, request.form.get("password", "")):
        current_app.logger.warning("failed admin login from %s", request.remote_addr)
        flash("Wrong password.")
        return render_template("login.html", next=target), 401
    log_in()
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    log_out()
    return redirect("/login")
