"""Admin login and logout (server-side sessions), "log out everywhere", the audit log page, and
what every template gets (csrf_token, is_admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from provision.server import services
from provision.server.auth import (
    attempt_login,
    audit,
    check_csrf,
    csrf_token,
    is_admin,
    log_in,
    log_out,
    login_required,
    safe_next,
)
from provision.server.limits import LOGIN_BODY_BYTES, body_limit, int_arg

bp = Blueprint("auth", __name__)
AUDIT_PAGE = 100


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "is_admin": is_admin}


@bp.route("/login", methods=["GET", "POST"])
@body_limit(LOGIN_BODY_BYTES)
def login() -> ResponseReturnValue:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target)
    check_csrf()
    outcome = attempt_login(request.form.get("password", ""), "web")
    if outcome.no_password:
        flash("No admin password is set: run `provision admin-password` on the server.")
        return render_template("login.html", next=target), 401
    if outcome.retry_after:
        flash(f"Too many failed logins: try again in {outcome.retry_after} s.")
        page = render_template("login.html", next=target)
        return page, 429, {"Retry-After": str(outcome.retry_after)}
    if not outcome.ok:
        flash("Wrong password.")
        return render_template("login.html", next=target), 401
    log_in()
    audit("login", detail="web")
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    if is_admin():
        audit("logout", detail="web")
    log_out()
    return redirect("/login")


@bp.post("/logout-all")
@login_required
def logout_all() -> Response:
    """Revoke every admin session and API token, this one included."""
    count = services.sessions().revoke_all()
    audit("logout-all", detail=f"{count} sessions and tokens revoked")
    log_out()
    flash(f"Logged out everywhere: {count} sessions and tokens revoked.")
    return redirect("/login")


@bp.get("/audit")
@login_required
def audit_page() -> str:
    before = int_arg("before", 0, 0, 2**62)
    entries = services.audit_log().entries(AUDIT_PAGE, before or None)
    older = entries[-1].id if len(entries) == AUDIT_PAGE else 0
    return render_template("audit.html", entries=entries, older=older)
