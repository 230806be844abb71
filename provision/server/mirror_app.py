"""The web app of a mirror: the snapshots by id (immutable) and the binhost's "current" view,
from a mirror directory (provision.mirror's layout: the server's, for what it serves)."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask

from provision.server.routes import binhost, snapshots
from provision.server.settings import ServerSettings


def create_mirror_app(directory: Path) -> Flask:
    app = Flask(__name__)
    settings = ServerSettings(
        data_dir=directory, profiles_dir=directory, secret_key=secrets.token_hex(16)
    )
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["PROVISION"] = settings
    app.register_blueprint(snapshots.bp)
    app.register_blueprint(binhost.bp)
    return app
