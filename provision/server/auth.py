"""Admin authentication, CSRF protection, login throttling and the audit trail of requests.

- The admin password is checked against `admin_password_hash` in server.toml (a werkzeug hash,
  written by `provision admin-password`).  Every attempt goes through the login throttle
  (provision.server.throttle: back-off per client address and for the account); failures are
  logged and recorded in the audit log.
- A login opens a server-side session (provision.server.sessions): the browser's signed cookie
  carries only the session's secret, a script gets another one as its Bearer token
  (`POST /api/v1/auth/token`).  Logout, "log out everywhere" and a password change delete the
  rows, which revokes cookies and tokens at once.
- Every form carries a per-session CSRF token (`csrf_token()` in templates); `check_csrf()`
  compares it in constant time.  JSON clients that use the session cookie send the same token
  in the `X-CSRF-Token` header.  A Bearer token is never sent by a browser on its own, so it
  needs no CSRF token.

`login_required` protects a view: a browser (HTML) gets a redirect to /login, an API client a
401 JSON answer.  `audit(action, ...)` records what the current admin did.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import Response, abort, current_app, g, jsonify, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from provision.server import services
from provision.server.app import settings_of
from provision.server.limits import NEXT_MAX, PASSWORD_MAX
from provision.server.sessions import Session, SessionKind, password_tag
from provision.server.throttle import Rule

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("provision.auth")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SID_FIELD = "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ACCOUNT = "admin"  # the one admin account
_NEXT_RE = re.compile(r"/(?![/\\])[\x21-\x7e]*\Z")  # a local path: printable ASCII, no //, /\


def hash_password(password: str) -> str:
    """A werkzeug password hash (scrypt) for server.toml."""
    return generate_password_hash(password)


def password_ok(stored_hash: str, password: str) -> bool:
    """True when password matches; always False when no admin password is configured."""
    if not stored_hash or not password or len(password) > PASSWORD_MAX:
        return False
    try:
        return check_password_hash(stored_hash, password)
    except (ValueError, TypeError):
        return False  # a malformed hash in server.toml never logs anyone in


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


# --- sessions ------------------------------------------------------------------------------
def current_tag() -> str:
    settings = settings_of(current_app)
    return password_tag(settings.secret_key, settings.admin_password_hash)


def _open(kind: SessionKind) -> tuple[str, Session]:
    settings = settings_of(current_app)
    return services.sessions().open(
        kind, lifetime=settings.session_seconds, address=client_address(), tag=current_tag()
    )


def log_in() -> Session:
    """Open a web session for this browser (a fresh cookie and CSRF token)."""
    secret, opened = _open(SessionKind.WEB)
    session.clear()
    session[SID_FIELD] = secret
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    g.admin_session = opened
    return opened


def log_out() -> None:
    """Revoke this browser's session (the cookie is worthless from now on, even replayed)."""
    secret = session.get(SID_FIELD)
    if isinstance(secret, str):
        services.sessions().revoke(secret)
    session.clear()


def issue_api_token() -> tuple[str, Session]:
    return _open(SessionKind.API)


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _bearer_session() -> Session | None:
    token = bearer_token()
    if not token:
        return None
    return services.sessions().find(token, tag=current_tag(), kind=SessionKind.API)


def _cookie_session() -> Session | None:
    secret = session.get(SID_FIELD)
    if not isinstance(secret, str):
        return None
    return services.sessions().find(secret, tag=current_tag(), kind=SessionKind.WEB)


def admin_session() -> Session | None:
    """The admin session of this request (Bearer token first, then the cookie), or None."""
    if "admin_session" not in g:
        g.admin_session = _bearer_session() or _cookie_session()
    found: Session | None = g.admin_session
    return found


def is_admin() -> bool:
    return admin_session() is not None


def actor() -> str:
    found = admin_session()
    return f"{ACCOUNT} ({found.short})" if found else "anonymous"


# --- CSRF ----------------------------------------------------------------------------------
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
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogateescape"))


def check_csrf() -> None:
    """Abort 400 unless an unsafe request carries this session's CSRF token (form or header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_valid(sent):
        abort(400, description="missing or wrong CSRF token (reload the page and try again)")


# --- logins --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    retry_after: int = 0  # > 0: throttled (refused without looking at the password)
    no_password: bool = False  # no admin password is configured


def _rules() -> list[Rule]:
    settings = settings_of(current_app)
    return [
        Rule(f"address:{client_address()}", settings.login_address_max_delay),
        Rule(f"account:{ACCOUNT}", settings.login_account_max_delay),
    ]


def attempt_login(password: object, via: str) -> LoginOutcome:
    """Check the admin password through the throttle; log and audit failures."""
    settings = settings_of(current_app)
    if not settings.admin_password_hash:
        return LoginOutcome(False, no_password=True)
    throttle = services.throttle()
    rules = _rules()
    now = time.time()
    wait = throttle.wait(rules, now)
    if wait > 0:
        log.warning("login throttled (%s) from %s: retry in %.0f s", via, client_address(), wait)
        return LoginOutcome(False, retry_after=max(1, int(wait + 0.999)))
    if isinstance(password, str) and password_ok(settings.admin_password_hash, password):
        throttle.success(rules)
        return LoginOutcome(True)
    blocked = throttle.failure(rules, settings.login_free_attempts, now)
    detail = f"via {via}" + (f"; further attempts blocked for {blocked:.0f} s" if blocked else "")
    log.warning("failed admin login (%s) from %s", detail, client_address())
    audit("login-failed", detail=detail, ok=False)
    return LoginOutcome(False)


def throttled_response(retry_after: int) -> Response:
    resp = jsonify(error=f"too many failed logins: try again in {retry_after} s")
    resp.status_code = 429
    resp.headers["Retry-After"] = str(retry_after)
    return resp


# --- the audit trail -----------------------------------------------------------------------
def audit(action: str, target: str = "", detail: str = "", ok: bool = True) -> None:
    """Record an action of the current client (admin or anonymous) in the audit log."""
    services.audit_log().add(
        actor(), action, target=str(target), address=client_address(), detail=detail, ok=ok
    )


# --- views ---------------------------------------------------------------------------------
def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def login_required(view: Callable[P, R]) -> Callable[P, R | Any]:
    """Admin only.  Unauthenticated: HTML → redirect to /login, API → 401 JSON.

    Session-authenticated unsafe requests must carry the CSRF token; Bearer ones need not.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
        found = admin_session()
        if found is not None:
            if found.kind is SessionKind.WEB:
                check_csrf()
            return view(*args, **kwargs)
        if wants_json():
            resp = jsonify(error="authentication required")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="provision"'
            return resp
        return redirect(url_for("auth.login", next=safe_next(request.full_path.rstrip("?"))))

    return wrapper


def safe_next(target: object) -> str:
    """Where to go after login: only a path on this site, else the front page.

    Printable ASCII only (browsers drop tabs and newlines, so "/\\t/evil" would become
    "//evil"), no scheme, no "//" or "/\\" (a host name), not too long.
    """
    if isinstance(target, str) and len(target) <= NEXT_MAX and _NEXT_RE.match(target):
        return target
    return url_for("pages.index")
