"""The server's web app for tests: settings, a logged-in client, forms with CSRF tokens, and a
data dir that looks like a builder left it.  Fixtures using these are in tests/conftest.py."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from provision.builder.state import Phase, ProfileState, save_state
from provision.server import services
from provision.server.app import create_app
from provision.server.settings import ServerSettings
from provision.snapshots.layout import DataLayout

PASSWORD = "correct horse battery"
HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")  # fast for tests
MAC = "52:54:00:12:34:56"


def make_app(data_dir: Path, profiles_dir: Path, password_hash: str = HASH) -> Flask:
    settings = ServerSettings(
        data_dir,
        profiles_dir,
        secret_key="s" * 32,
        base_url="http://srv:8080",
        admin_password_hash=password_hash,
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def close_app(app: Flask) -> None:
    services.close_services(app)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: FlaskClient, password: str = PASSWORD) -> None:
    resp = client.post("/login", data={"password": password, "csrf_token": csrf(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def post(client: FlaskClient, path: str, data: dict[str, str], page: str = "/hosts") -> str:
    """POST a form with this session's CSRF token; returns the redirect target."""
    resp = client.post(path, data={**data, "csrf_token": csrf(client, page)})
    assert resp.status_code == 302, (resp.status_code, resp.get_data(as_text=True)[:500])
    return resp.headers["Location"]


def flashes(client: FlaskClient, path: str) -> str:
    return client.get(path).get_data(as_text=True)


def fake_build(data_dir: Path, profile: str) -> DataLayout:
    """A profile mid-pass with two published snapshots (as the builder leaves them)."""
    layout = DataLayout(data_dir)
    pass_id = time.strftime("%Y%m%dT%H%M%SZ-aaaaaa", time.gmtime(time.time() - 30))
    log = layout.logs(profile) / f"{pass_id}.log"
    log.parent.mkdir(parents=True)
    log.write_text(">>> Emerging (1 of 2) app-misc/hello-1.0::demo\nstill compiling...\n")
    state = ProfileState(profile, Phase.BUILDING, pass_id=pass_id, log=str(log), updated=1.0)
    save_state(layout.state_file(profile), state)
    for sid in ("20240101T000000Z-s1", "20240102T000000Z-s2"):
        snap = layout.snapshots(profile) / sid
        (snap / "binhost").mkdir(parents=True)
        (snap / "meta.json").write_text('{"published": 1704067200, "packages": ["a/b-1"]}')
    layout.current_link(profile).symlink_to("20240102T000000Z-s2")
    return layout
