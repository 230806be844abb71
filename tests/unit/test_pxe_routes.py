"""The boot blueprint through Flask's test client: per-host iPXE scripts and the live files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from provision.hosts import HostState
from provision.server.app import create_app
from provision.server.settings import ServerSettings
from provision.server.store import Store
from tests.conftest import PROFILES

BASE = "http://192.0.2.1:8080"
MAC = "52:54:00:ab:cd:ef"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data: Path) -> FlaskClient:
    app = create_app(ServerSettings(data, PROFILES, secret_key="s" * 32, base_url=BASE))
    return app.test_client()


@pytest.fixture
def store(data: Path) -> Iterator[Store]:
    s = Store.in_data_dir(data)
    yield s
    s.close()


def test_chain_script(client: FlaskClient) -> None:
    resp = client.get("/boot/boot.ipxe")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert resp.headers["Cache-Control"] == "no-store"
    assert f"chain --autofree {BASE}/boot/${{mac}}.ipxe" in resp.text


@pytest.mark.parametrize("spelling", ["52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF"])
def test_known_host_gets_installer(client: FlaskClient, store: Store, spelling: str) -> None:
    token = store.upsert_host(MAC, profile="desktop-amd64").token
    resp = client.get(f"/boot/{spelling}.ipxe")
    assert resp.status_code == 200
    assert f"kernel {BASE}/boot/live/vmlinuz " in resp.text
    assert (
        f"provision.server={BASE} provision.profile=desktop-amd64 provision.host={MAC}"
        f" provision.token={token} " in resp.text
    )


def test_unknown_host_is_registered_and_gets_menu(client: FlaskClient, store: Store) -> None:
    assert store.find_host(MAC) is None
    resp = client.get(f"/boot/{MAC}.ipxe")
    assert resp.status_code == 200
    assert f"menu provision: choose a profile for {MAC}" in resp.text
    for name in ("desktop-amd64", "laptop-amd64", "server-amd64"):
        assert f" {name}\n" in resp.text
    assert f"{BASE}/picker?mac=52%3A54%3A00%3Aab%3Acd%3Aef" in resp.text
    host = store.host(MAC)
    assert host.state is HostState.NEW and host.profile == ""


def test_menu_choice_sets_profile_once(client: FlaskClient, store: Store) -> None:
    resp = client.get(f"/boot/{MAC}.ipxe?profile=server-amd64")
    assert "provision.profile=server-amd64" in resp.text
    assert store.host(MAC).profile == "server-amd64"
    # a later choice does not override the profile; nor does an unknown profile name
    client.get(f"/boot/{MAC}.ipxe?profile=desktop-amd64")
    assert store.host(MAC).profile == "server-amd64"
    other = "52:54:00:00:00:09"
    client.get(f"/boot/{other}.ipxe?profile=nonexistent")
    assert store.host(other).profile == ""


def test_boot_once(client: FlaskClient, store: Store) -> None:
    store.upsert_host(MAC, profile="desktop-amd64")
    store.set_state(MAC, HostState.INSTALLED)
    local = client.get(f"/boot/{MAC}.ipxe").text
    assert f"echo provision: {MAC} is installed; booting from local disk" in local
    assert "kernel " not in local and "\nexit\n" in local
    store.request_reinstall(MAC)
    again = client.get(f"/boot/{MAC}.ipxe").text
    assert "provision.profile=desktop-amd64" in again and "booting from local disk" not in again


def test_bad_mac(client: FlaskClient, store: Store) -> None:
    resp = client.get("/boot/not-a-mac.ipxe")
    assert resp.status_code == 404
    assert "is not a MAC address" in resp.text
    assert store.hosts() == []


def test_live_files(client: FlaskClient, data: Path) -> None:
    missing = client.get("/boot/live/vmlinuz")
    assert missing.status_code == 404 and "no live environment" in missing.text
    (data / "live").mkdir(parents=True)
    (data / "live" / "vmlinuz").write_bytes(b"kernel-bytes")
    (data / "live" / "initrd.img").write_bytes(b"initrd-bytes")
    for name, content in (("vmlinuz", b"kernel-bytes"), ("initrd.img", b"initrd-bytes")):
        with client.get(f"/boot/live/{name}") as resp:
            assert resp.status_code == 200 and resp.data == content
    assert client.get("/boot/live/other").status_code == 404
    assert client.get("/boot/live/..%2fprovision.sqlite").status_code == 404
