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


def test_boot_events(app_store: tuple[FlaskClient, Store]) -> None:
    """The installer says how the machine booted; the server records it, checked."""
    client, store = app_store
    host = store.upsert_host(MAC, profile="server-amd64")
    url = f"/api/v1/hosts/{MAC}/events"
    good = {"kind": "boot", "step": "http", "message": "firmware=uefi secure_boot=on; UEFI HTTPv4"}
    assert client.post(url, json=good, headers=_auth(host.token)).status_code == 201
    for bad in (
        {"kind": "boot", "step": "floppy", "message": "firmware=uefi secure_boot=on"},
        {"kind": "boot", "step": "pxe", "message": "rm -rf"},
        {"kind": "boot", "step": "pxe", "message": "firmware=uefi secure_boot=on; a\nb"},
    ):
        resp = client.post(url, json=bad, headers=_auth(host.token))
        assert resp.status_code == 400 and "boot event" in resp.get_json()["error"]
    assert [e.kind for e in store.events(MAC)] == ["boot"]
    assert store.host(MAC).state is HostState.NEW  # a boot event changes no state


def test_secure_boot_files_in_the_config_document(profiles_dir: Path) -> None:
    from provision.errors import ConfigError
    from provision.install.config import SECURE_BOOT_FILES, config_document
    from provision.profiles import ProfileSet

    profile = ProfileSet(profiles_dir).get("vm-amd64-sb")
    digests = {name: "ab" * 32 for name in SECURE_BOOT_FILES}
    doc = config_document(
        host_id=MAC, hostname="h", profile=profile, settings={}, base_url="http://s:8080/",
        wipe=False, secure_boot_sha256=digests,
    )  # fmt: skip
    config = parse_config(doc)
    assert config.profile.secure_boot
    assert config.secure_boot is not None
    assert config.secure_boot.url == "http://s:8080/boot/secureboot/"
    assert config.secure_boot.sha256 == digests
    doc["secure_boot"]["sha256"]["grubx64.efi"] = "not-a-digest"
    with pytest.raises(ConfigError, match=r"secure_boot\.sha256\.grubx64\.efi"):
        parse_config(doc)
    del doc["secure_boot"]["sha256"]["grubx64.efi"]
    with pytest.raises(ConfigError, match=r"expected shimx64\.efi"):
        parse_config(doc)
    del doc["secure_boot"]
    assert parse_config(doc).secure_boot is None
