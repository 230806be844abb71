"""Admin authentication and CSRF protection for the web UI and the admin JSON API.

- The admin password is checked against `admin_password_hash` in server.toml (a werkzeug hash,
  written by `provision admin-password`).  A successful login marks the Flask session.
- Every form carries a per-session CSRF token (`csrf_token()` in templates); `check_csrf()`
  compares it in constant time.  JSON clients that use the session cookie send the same token
  in the `X-CSRF-Token` header.
- Scripts use a Bearer admin token instead of the cookie (`POST /api/v1/auth/token`): an
  HMAC-signed, expiring token (itsdangerous, keyed by the secret key).  A Bearer token is never
  sent by a browser on its own, so it needs no CSRF token.

`login_required` protects a view: a browser (HTML) gets a redirect to /login, an API client a
401 JSON answer.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import abort, current_app, jsonify, redirect, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from provision.server.app import settings_of

P = ParamSpec("P")
R = TypeVar("R")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_SALT = "provision-admin-api"
TOKEN_MAX_AGE = 12 * 3600  # seconds an admin API token stays valid
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def hash_password(password: str) -> str:
    """A werkzeug password hash (scrypt) for server.toml."""
    return generate_password_hash(password)


def password_ok(stored_hash: str, password: str) -> bool:
    """True when password matches; always False when no admin password is configured."""
    if not stored_hash or not password:
        return False
    try:
        return check_password_hash(stored_hash, password)
    except (ValueError, TypeError):
        return False  # a malformed hash in server.toml never logs anyone in


# --- session -------------------------------------------------------------------------------
def log_in() -> None:
    session.clear()
    session["admin"] = True
    session[CSRF_FIELD] = secrets.token_urlsafe(32)  # a fresh token per login


def log_out() -> None:
    session.clear()


def csrf_token() -> str:
    """This session's CSRF token (created on first use; anonymous sessions get one too)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_valid(sent: str | None) -> bool:
    expected = session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def check_csrf() -> None:
    """Abort 400 unless an unsafe request carries this session's CSRF token (form or header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_valid(sent):
        abort(400, description="missing or wrong CSRF token (reload the page and try again)")


# --- bearer tokens for scripts -------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings_of(current_app).secret_key, salt=TOKEN_SALT)


def issue_api_token() -> str:
    return _serializer().dumps({"admin": True})


def api_token_valid(token: str, max_age: int = TOKEN_MAX_AGE) -> bool:
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return False
    return isinstance(data, dict) and data.get("admin") is True


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def is_admin() -> bool:
    """Logged in through the session, or presenting a valid admin Bearer token."""
    if session.get("admin") is True:
        return True
    token = bearer_token()
    return bool(token) and api_token_valid(token)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def login_required(view: Callable[P, R]) -> Callable[P, R | Any]:
    """Admin only.  Unauthenticated: HTML → redirect to /login, API → 401 JSON.

    Session-authenticated unsafe requests must carry the CSRF token; Bearer ones need not.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
        token = bearer_token()
        if token and api_token_valid(token):
            return view(*args, **kwargs)
        if session.get("admin") is True:
            check_csrf()
            return view(*args, **kwargs)
        if wants_json():
            resp = jsonify(error="authentication required")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="provision"'
            return resp
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    return wrapper


def safe_next(target: str | None) -> str:
    """Only local paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.index")
