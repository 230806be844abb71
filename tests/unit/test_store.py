from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import ConfigError, NotFound
from provision.hosts import EventKind, HostState
from provision.names import normalize_mac
from provision.server.store import Store


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        ("52:54:00:AA:bb:01", "52:54:00:aa:bb:01"),
        ("52-54-00-aa-bb-01", "52:54:00:aa:bb:01"),
        ("525400aabb01", "52:54:00:aa:bb:01"),
    ],
)
def test_normalize_mac(text: str, mac: str) -> None:
    assert normalize_mac(text) == mac


@pytest.mark.parametrize(
    "text", ["", "52:54:00:aa:bb", "zz:54:00:aa:bb:01", "52:54:00:aa:bb:01:02"]
)
def test_bad_mac(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a MAC address"):
        normalize_mac(text)


def test_host_lifecycle(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    host = store.upsert_host("52:54:00:00:00:01", profile="desktop-amd64", hostname="ws1")
    assert host.state is HostState.NEW and not host.boot_local and len(host.token) > 20
    assert store.host_by_token(host.token) == host
    store.set_state(host.mac, HostState.INSTALLING)
    store.add_event(host.mac, EventKind.START, step="partition", message="partitioning /dev/vda")
    store.add_event(host.mac, EventKind.PROGRESS, step="packages", progress=0.5)
    installed = store.set_state(host.mac, HostState.INSTALLED, ip="192.0.2.50")
    assert installed.boot_local and installed.ip == "192.0.2.50"
    events = store.events(host.mac)
    assert [e.kind for e in events] == ["start", "progress"]
    assert store.events(host.mac, after=events[0].id)[0].progress == 0.5
    again = store.request_reinstall(host.mac)
    assert not again.boot_local and again.wipe and again.state is HostState.NEW
    store.close()
    # persisted
    reopened = Store.in_data_dir(tmp_path)
    assert reopened.host("52-54-00-00-00-01").hostname == "ws1"
    reopened.close()


def test_unknown_host_and_bad_hostname(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    with pytest.raises(NotFound):
        store.add_event("52:54:00:00:00:09", EventKind.START)
    with pytest.raises(ConfigError, match="not a valid host name"):
        store.upsert_host("52:54:00:00:00:09", hostname="Bad_Name")
    store.close()
