"""Flask app factory.  Each module in provision/server/routes/ exports `bp` (a Blueprint)."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

from provision.server.settings import ServerSettings
from provision.server.static import SnapshotFiles


def create_app(settings: ServerSettings) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["PROVISION"] = settings
    import provision.server.routes as routes

    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"provision.server.routes.{info.name}")
        app.register_blueprint(module.bp)
    # snapshot files skip Flask when they can (the blueprint answers everything else)
    app.wsgi_app = SnapshotFiles(app.wsgi_app, settings.data_dir)  # type: ignore[method-assign]
    return app


def settings_of(app: Flask) -> ServerSettings:
    """The ServerSettings an app was made with (for routes: settings_of(current_app))."""
    settings = app.config["PROVISION"]
    assert isinstance(settings, ServerSettings)
    return settings
