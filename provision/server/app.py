"""Flask app factory.  Each module in provision/server/routes/ exports `bp` (a Blueprint).

The factory also sets what every request is held to (provision.server.limits): the body caps,
the bounded JSON loader, the URL converters that build names (provision.server.converters),
the cookie flags, and error handlers that answer bad input with 4xx (JSON under /api/).
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask, Request, Response, current_app, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from provision.errors import ConfigError, NotFound
from provision.server import converters
from provision.server.limits import FORM_MAX_MEMORY, FORM_MAX_PARTS, BoundedJSONProvider
from provision.server.proxy import TrustedProxy
from provision.server.settings import ServerSettings
from provision.server.static import SnapshotFiles
from provision.server.urls import client_base_url


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the cookie signer for a request that
    carries no session cookie (every API call with a Bearer token, every installer call): it
    was a tenth of such a request's time (issue 20)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(settings: ServerSettings) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.session_interface = CookieSessions()
    app.config["PROVISION"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_MAX_MEMORY
    app.config["MAX_FORM_PARTS"] = FORM_MAX_PARTS
    # Lax: the session cookie is not sent on cross-site POSTs (CSRF tokens are the main guard).
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = settings.cookies_secure
    app.json = BoundedJSONProvider(app)
    converters.install(app.url_map)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ConfigError, _bad_input)
    app.register_error_handler(NotFound, _not_found)
    # snapshot files skip Flask when they can (the blueprint answers everything else)
    app.wsgi_app = SnapshotFiles(app.wsgi_app, settings.data_dir)  # type: ignore[method-assign]
    app.wsgi_app = TrustedProxy(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    import provision.server.routes as routes

    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"provision.server.routes.{info.name}")
        app.register_blueprint(module.bp)
    return app


def settings_of(app: Flask) -> ServerSettings:
    """The ServerSettings an app was made with (for routes: settings_of(current_app))."""
    settings = app.config["PROVISION"]
    assert isinstance(settings, ServerSettings)
    return settings


def _api() -> bool:
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException) -> Response | HTTPException:
    """Under /api/ every error is JSON ({"error": ...}); elsewhere werkzeug's page."""
    if not _api() or exc.code is None or exc.code < 400 or exc.response is not None:
        return exc
    resp = jsonify(error=exc.description or exc.name)
    resp.status_code = exc.code
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in headers:
            resp.headers[name] = headers[name]
    return resp


def _message(status: int, title: str, text: str) -> tuple[str, int]:
    return render_template("message.html", title=title, message=text), status


def _bad_input(exc: ConfigError) -> tuple[Response, int] | tuple[str, int]:
    if _api():
        return jsonify(error=str(exc), field=exc.where), 400
    return _message(400, "Bad request", str(exc))


def _not_found(exc: NotFound) -> tuple[Response, int] | tuple[str, int]:
    if _api():
        return jsonify(error=str(exc)), 404
    return _message(404, "Not found", str(exc))


def request_base_url() -> str | None:
    """The server's URL for the client of the current request (provision.server.urls), or None
    when only a loopback URL is known and the client is not on loopback."""
    return client_base_url(
        settings_of(current_app),
        scheme=request.scheme,
        host=request.host,
        remote_addr=request.remote_addr or "",
        prefix=request.script_root,
    )
