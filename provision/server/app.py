"""Flask app factory.  Each module in provision/server/routes/ exports `bp` (a Blueprint)."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask, current_app, request

from provision.server.proxy import TrustedProxy
from provision.server.settings import ServerSettings
from provision.server.urls import client_base_url


def create_app(settings: ServerSettings) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["PROVISION"] = settings
    app.config["SESSION_COOKIE_SECURE"] = settings.cookies_secure
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
