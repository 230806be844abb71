"""The web app of a mirror: the snapshots by id (immutable), the binhost's "current" view and
the server's public key, from a mirror directory (provision.mirror's layout: the server's, for
what it serves; the key as the mirror pinned it, so mirrors can chain)."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, Response, abort

from provision.mirror import KEY_FILE
from provision.server import converters
from provision.server.routes import binhost, snapshots
from provision.server.settings import ServerSettings


def create_mirror_app(directory: Path) -> Flask:
    app = Flask(__name__)
    settings = ServerSettings(
        data_dir=directory, profiles_dir=directory, secret_key=secrets.token_hex(16)
    )
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["PROVISION"] = settings
    converters.install(app.url_map)
    app.register_blueprint(snapshots.bp)
    app.register_blueprint(binhost.bp)
    key = directory / "keys" / KEY_FILE

    def public_key() -> Response:
        if not key.is_file():
            abort(404)
        return Response(key.read_text(), mimetype="application/pgp-keys")

    app.view_functions["binhost.public_key"] = public_key  # no secret key here: the copy
    return app
