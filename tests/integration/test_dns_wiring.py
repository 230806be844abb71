"""Issue 10 wired in, against a real BIND 9 on loopback (tests/integration/bind_fixture.py):

- the installer finds the server through DNS SRV when the kernel command line names none;
- the server registers a host (A + PTR) when its install finishes, removes it when the host is
  deleted; with BIND down the finish event is still accepted (host installed), the update is
  queued, and the retry loop of `provision serve` registers it once BIND is back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.tsigkeyring
import dns.update
import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.commands.serve import start_dns_retry
from provision.dns.queue import RetryQueue
from provision.hosts import HostState
from provision.run import run
from provision.server import services
from provision.server.settings import ServerSettings
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.bind_fixture import KEY, Bind, start_bind
from tests.integration.build_fixtures import serve
from tests.integration.install_fixtures import loop_disk
from tests.webapp import PASSWORD, close_app, login, make_app, post

pytestmark = pytest.mark.integration

MAC = "52:54:00:10:00:01"


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    server = start_bind(tmp_path_factory.mktemp("dnswire-bind"))
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path: Path, bind: Bind) -> Iterator[Flask]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dns.toml").write_text(bind.toml())
    (data / "dns.toml").chmod(0o600)
    app = make_app(data, PROFILES)
    yield app
    close_app(app)


def lookup(bind: Bind, name: str, rdtype: str) -> list[str]:
    """What BIND serves, asked directly (not through the code under test)."""
    answer = dns.query.tcp(
        dns.message.make_query(name, rdtype), "127.0.0.1", port=bind.port, timeout=5
    )
    return sorted(r.to_text() for rrset in answer.answer for r in rrset)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def add_host(app: Flask, mac: str, hostname: str) -> str:
    return services.store(app).upsert_host(mac, profile="server-amd64", hostname=hostname).token


def finish(client: FlaskClient, mac: str, token: str, remote: str) -> None:
    resp = client.post(
        f"/api/v1/hosts/{mac}/events",
        json={"kind": "finish", "message": "installed"},
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": remote},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_finish_registers_and_delete_removes(app: Flask, bind: Bind) -> None:
    token = add_host(app, MAC, "web1")
    client = app.test_client()
    finish(client, MAC, token, "192.0.2.61")
    wait_for("the A record", lambda: lookup(bind, "web1.example.test", "A") == ["192.0.2.61"])
    assert lookup(bind, "61.2.0.192.in-addr.arpa", "PTR") == ["web1.example.test."]
    assert services.store(app).host(MAC).state is HostState.INSTALLED

    # decommission through the admin API: the records go
    api = app.test_client()
    resp = api.post("/api/v1/auth/token", json={"password": PASSWORD})
    auth = {"Authorization": f"Bearer {resp.json['token']}"}  # type: ignore[index]
    assert api.delete(f"/api/v1/hosts/{MAC}", headers=auth).status_code == 204
    assert lookup(bind, "web1.example.test", "A") == []
    assert lookup(bind, "61.2.0.192.in-addr.arpa", "PTR") == []

    # forgetting a host on its web page does the same; addresses may come in the event body
    mac2 = "52:54:00:10:00:03"
    resp = client.post(
        f"/api/v1/hosts/{mac2}/events",
        json={"kind": "finish", "addresses": ["192.0.2.63"]},
        headers={"Authorization": f"Bearer {add_host(app, mac2, 'web2')}"},
    )
    assert resp.status_code == 201
    wait_for("web2's A record", lambda: lookup(bind, "web2.example.test", "A") == ["192.0.2.63"])
    web = app.test_client()
    login(web)
    post(web, f"/hosts/{mac2}/delete", {}, page=f"/hosts/{mac2}")
    assert lookup(bind, "web2.example.test", "A") == []
    assert lookup(bind, "63.2.0.192.in-addr.arpa", "PTR") == []


def test_bind_down_install_completes_then_retry_registers(
    app: Flask, bind: Bind, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    mac = "52:54:00:10:00:02"
    token = add_host(app, mac, "late2")
    queue = RetryQueue.in_data_dir(data)
    bind.stop()
    try:
        finish(app.test_client(), mac, token, "192.0.2.62")  # accepted with DNS down
        assert services.store(app).host(mac).state is HostState.INSTALLED
        wait_for("the queued registration", lambda: len(queue.entries()) == 1)
        [entry] = queue.entries()
        assert (entry.op, entry.host, entry.addresses) == ("register", "late2", ("192.0.2.62",))
        assert "refused" in entry.last_error or "timed out" in entry.last_error, entry
    finally:
        bind.start()
    settings = ServerSettings(data, PROFILES, secret_key="s" * 32)
    stop = start_dns_retry(settings, interval=0.2)  # what `provision serve` runs
    assert stop is not None
    try:
        wait_for("the retried registration", lambda: queue.entries() == [])
    finally:
        stop()
    assert lookup(bind, "late2.example.test", "A") == ["192.0.2.62"]
    assert lookup(bind, "62.2.0.192.in-addr.arpa", "PTR") == ["late2.example.test."]


def test_no_dns_toml_no_retry_thread(tmp_path: Path) -> None:
    assert start_dns_retry(ServerSettings(tmp_path, PROFILES, secret_key="s" * 32)) is None


def test_installer_finds_the_server_by_srv(bind: Bind, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = Store.in_data_dir(data)
    try:
        token = store.upsert_host(MAC, profile="server-amd64", hostname="srv1").token
    finally:
        store.close()
    with serve(data) as url:
        port = int(url.rsplit(":", 1)[1])
        update = dns.update.UpdateMessage(
            "example.test",
            keyring=dns.tsigkeyring.from_text({KEY: bind.secret}),
            keyalgorithm="hmac-sha256",
        )
        update.replace("_provision._tcp.lab12", 60, "SRV", f"0 0 {port} localhost.")
        update.replace("_provision._tcp.lab12", 60, "TXT", '"profile=server-amd64"')
        response = dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5)
        assert response.rcode() == 0
        (tmp_path / "cmdline").write_text("console=ttyS0 provision.host=" + MAC + "\n")
        (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\nsearch lab12.example.test\n")
        with loop_disk(tmp_path / "disk.img", 4 << 30) as dev:
            argv = [
                sys.executable, "-m", "provision", "--data-dir", str(data),
                "install", "--dry-run", "--disk", dev, "--target", str(tmp_path / "t"),
                f"--token={token}", "--cmdline", str(tmp_path / "cmdline"),
                "--resolv-conf", str(tmp_path / "resolv.conf"),
                "--dns-server", f"127.0.0.1:{bind.port}",
            ]  # fmt: skip
            res = run(argv, check=False, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert (
            f"found the server http://localhost:{port} through DNS SRV "
            "(profile hint server-amd64)" in res.stdout
        ), res.stdout
        assert f"fetching http://localhost:{port}/api/v1/hosts/{MAC}/config" in res.stdout
        assert "profile server-amd64, host 52:54:00:10:00:01 (srv1)" in res.stdout
        assert "step image:" in res.stdout

        # no SRV record in the search domain: one clear line, exit code 2
        (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\nsearch none.example.test\n")
        res = run(argv, check=False, timeout=120)
        assert res.returncode == 2
        assert "no provisioning server found through DNS" in res.stderr, res.stderr
