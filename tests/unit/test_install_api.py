"""The installer API blueprint (/api/v1): config by token, events move the host's state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from provision.hosts import HostState
from provision.install.config import parse_config
from provision.server.app import create_app
from provision.server.routes.api_v1 import store_of
from provision.server.settings import ServerSettings
from provision.server.store import Store

MAC = "52:54:00:12:34:56"


@pytest.fixture
def app_store(tmp_path: Path, profiles_dir: Path) -> Iterator[tuple[FlaskClient, Store]]:
    settings = ServerSettings(
        tmp_path, profiles_dir, secret_key="k" * 32, base_url="http://192.0.2.1:8080"
    )
    app = create_app(settings)
    store = store_of(app)
    files = tmp_path / "install" / "server-amd64"
    files.mkdir(parents=True)
    (files / "stage.tar.xz").write_bytes(b"stage")
    (files / "stage.tar.xz.sha512").write_text("ab  stage.tar.xz\n")
    yield app.test_client(), store
    store.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_config_needs_the_hosts_token(app_store: tuple[FlaskClient, Store]) -> None:
    client, store = app_store
    host = store.upsert_host(MAC, profile="server-amd64", hostname="srv1")
    store.set_host_setting(MAC, "ssh_authorized_keys", "ssh-ed25519 AAAA admin@x")
    assert client.get(f"/api/v1/hosts/{MAC}/config").status_code == 401
    assert client.get(f"/api/v1/hosts/{MAC}/config", headers=_auth("wrong")).status_code == 401
    other = store.upsert_host("52:54:00:00:00:99", profile="server-amd64")
    assert client.get(f"/api/v1/hosts/{MAC}/config", headers=_auth(other.token)).status_code == 401
    resp = client.get(f"/api/v1/hosts/{MAC}/config", headers=_auth(host.token))
    assert resp.status_code == 200
    config = parse_config(resp.get_json(), token=host.token)
    assert config.profile.name == "server-amd64" and config.settings.hostname == "srv1"
    assert config.settings.ssh_authorized_keys == ("ssh-ed25519 AAAA admin@x",)
    base = "http://192.0.2.1:8080"
    assert config.sources.stage_url == f"{base}/api/v1/files/server-amd64/stage.tar.xz"
    assert config.sources.repo_url == ""  # no repo.tar published
    assert config.events_url == f"{base}/api/v1/hosts/{MAC}/events"
    with client.get("/api/v1/files/server-amd64/stage.tar.xz.sha512") as got:
        assert got.status_code == 200 and got.data == b"ab  stage.tar.xz\n"
    assert client.get("/api/v1/files/server-amd64/..%2fx").status_code == 404


def test_config_without_profile(app_store: tuple[FlaskClient, Store]) -> None:
    client, store = app_store
    host = store.upsert_host(MAC)
    resp = client.get(f"/api/v1/hosts/{MAC}/config", headers=_auth(host.token))
    assert resp.status_code == 409 and "no profile" in resp.get_json()["error"]


def test_events_move_state(app_store: tuple[FlaskClient, Store]) -> None:
    client, store = app_store
    host = store.upsert_host(MAC, profile="server-amd64", wipe=True)
    url = f"/api/v1/hosts/{MAC}/events"
    assert client.post(url, json={"kind": "start"}).status_code == 401
    assert client.post(url, json={"kind": "bogus"}, headers=_auth(host.token)).status_code == 400
    bad = {"kind": "progress", "progress": "half"}
    assert client.post(url, json=bad, headers=_auth(host.token)).status_code == 400
    for body in (
        {"kind": "start", "message": "installing"},
        {"kind": "progress", "step": "stage", "progress": 0.3},
    ):
        assert client.post(url, json=body, headers=_auth(host.token)).status_code == 201
    assert store.host(MAC).state is HostState.INSTALLING
    fail = {"kind": "failure", "step": "packages", "message": "x", "log_tail": "boom\n"}
    client.post(url, json=fail, headers=_auth(host.token))
    assert store.host(MAC).state is HostState.FAILED
    client.post(url, json={"kind": "finish"}, headers=_auth(host.token))
    done = store.host(MAC)
    assert done.state is HostState.INSTALLED and done.boot_local and not done.wipe
    events = store.events(MAC)
    assert [e.kind for e in events] == ["start", "progress", "failure", "finish"]
    assert events[1].step == "stage" and events[1].progress == 0.3
    assert events[2].log_tail == "boom\n"
