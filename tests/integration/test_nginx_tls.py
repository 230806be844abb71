"""TLS in front: contrib/nginx (a real Debian nginx, a self-signed certificate, on loopback)
before `provision serve` with trusted_proxies and secure_cookies.

Over https the admin logs in and the session cookie is Secure; redirects stay on https and the
URLs the server generates are https (ProxyFix for the trusted proxy only); published snapshot
files come from nginx itself, immutable when named by id; plain http serves what booting
machines need and sends everything else to https; a Portage client (verify-signature = true)
installs from the binhost through nginx over https.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.run import Spawned, run, spawn
from tests.conftest import ROOT
from tests.integration import build_fixtures
from tests.integration.build_fixtures import DemoBinhost, client_dir, client_for, free_port
from tests.webapp import HASH, PASSWORD

demo_binhost = build_fixtures.demo_binhost  # the session fixture
NGINX = ROOT / "contrib" / "nginx"
SECRET = "nginx-test-secret-0123456789abcdef"


@dataclass(frozen=True)
class Front:
    https: int  # nginx's TLS port
    http: int  # nginx's plain port
    upstream: int  # provision serve's port
    cert: Path
    access_log: Path
    snapshot: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str


def fetch(
    front: Front,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    tls: bool = True,
    body: str | None = None,
) -> Answer:
    """GET (POST with a body) through nginx: https with the test's CA, or plain http."""
    if tls:
        ctx = ssl.create_default_context(cafile=str(front.cert))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "localhost", front.https, context=ctx, timeout=30
        )
    else:
        conn = http.client.HTTPConnection("localhost", front.http, timeout=30)
    try:
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Answer(resp.status, resp.headers, resp.read().decode(errors="replace"))
    finally:
        conn.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])  # fmt: skip
    return cert, key


def render_nginx(work: Path, data: Path, upstream: int, https: int, plain: int) -> Path:
    """contrib/nginx with this test's ports, paths and certificate, in a minimal nginx.conf."""
    cert, key = self_signed(work)
    site = (NGINX / "provision.conf").read_text()
    for old, new in (
        ("127.0.0.1:8080", f"127.0.0.1:{upstream}"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{plain};"),
        ("provision.example.org", "localhost"),
        ("/etc/ssl/provision/fullchain.pem", str(cert)),
        ("/etc/ssl/provision/privkey.pem", str(key)),
        ("https://$host$request_uri", f"https://$host:{https}$request_uri"),
        ("/etc/nginx/provision-", f"{work}/provision-"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    site = "\n".join(ln for ln in site.splitlines() if "listen [::]" not in ln)
    (work / "provision.conf").write_text(site)
    for name in ("provision-locations.conf", "provision-proxy.conf"):
        text = (NGINX / name).read_text().replace("/var/lib/provision", str(data))
        (work / name).write_text(text.replace("/etc/nginx/provision-", f"{work}/provision-"))
    temp = work / "tmp"
    temp.mkdir()
    main = work / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "user root root;\nevents { worker_connections 64; }\nhttp {\n"
        "  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        "  log_format t '$request_uri $status upstream=$upstream_addr';\n"
        f"  access_log {work}/access.log t;\n"
        + "".join(f"  {kind}_temp_path {temp}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {work}/provision.conf;\n}}\n"
    )  # fmt: skip
    return main


def wait_port(port: int, proc: subprocess.Popen[bytes] | Spawned, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            pass
        alive = proc.poll() is None if isinstance(proc, subprocess.Popen) else proc.running
        if not alive or time.monotonic() > deadline:
            raise AssertionError(f"nothing on port {port}:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


@pytest.fixture
def front(demo_binhost: DemoBinhost, tmp_path: Path) -> Iterator[Front]:
    data = tmp_path / "data"  # this test's server state; the published binhost and its key
    data.mkdir()  # are the session's (read-only here)
    for name in ("snapshots", "keys"):
        (data / name).symlink_to(demo_binhost.data_dir / name)
    upstream, https, plain = free_port(), free_port(), free_port()
    (data / "server.toml").write_text(
        f'secret_key = "{SECRET}"\nadmin_password_hash = "{HASH}"\n'
        f'base_url = "https://localhost:{https}"\nserver_names = ["localhost"]\n'
        'trusted_proxies = ["127.0.0.1"]\nsecure_cookies = true\n'
    )
    server = spawn(
        [sys.executable, "-m", "provision", "--data-dir", data, "--profiles-dir",
         build_fixtures.PROFILES, "serve", "--listen", f"127.0.0.1:{upstream}", "--no-build"],
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    work = tmp_path / "nginx"
    work.mkdir()
    conf = render_nginx(work, data, upstream, https, plain)
    nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(work), "-e", str(work / "error.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_port(upstream, server, tmp_path / "serve.log")
        wait_port(https, nginx, work / "error.log")
        yield Front(https, plain, upstream, work / "cert.pem", work / "access.log",
                    demo_binhost.snapshot.name)  # fmt: skip
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        server.stop()


def served_by(front: Front, path: str) -> str:
    """Who answered path, from nginx's access log: "nginx" or the upstream's address (nginx
    logs a request just after its answer: waited for)."""
    deadline = time.monotonic() + 10
    while True:
        text = front.access_log.read_text() if front.access_log.is_file() else ""
        for line in reversed(text.splitlines()):
            if line.startswith(path + " "):
                upstream = line.rsplit("upstream=", 1)[1]
                return "nginx" if upstream == "-" else upstream
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not in the access log:\n{text}")
        time.sleep(0.1)


def test_admin_logs_in_over_https_with_secure_cookie(front: Front) -> None:
    # not logged in: a redirect that stays on https (relative, or absolute https)
    resp = fetch(front, "/hosts")
    assert resp.status == 302
    location = resp.headers["Location"]
    assert location.startswith(("/login", f"https://localhost:{front.https}/login")), location
    page = fetch(front, "/login")
    cookie = page.headers.get("Set-Cookie", "").split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    form = urllib.parse.urlencode({"password": PASSWORD, "csrf_token": token.group(1)})
    kind = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    login = fetch(front, "/login", kind, body=form)
    assert login.status == 302, login.text
    set_cookie = login.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie, set_cookie
    assert not login.headers["Location"].startswith("http://")
    hosts = fetch(front, "/hosts", {"Cookie": set_cookie.split(";", 1)[0]})
    assert hosts.status == 200 and "<h1>Hosts</h1>" in hosts.text
    assert served_by(front, "/hosts") == f"127.0.0.1:{front.upstream}"
    # plain http: the web UI is sent to https
    plain = fetch(front, "/hosts", tls=False)
    assert plain.status == 301
    assert plain.headers["Location"] == f"https://localhost:{front.https}/hosts"


def test_generated_urls_follow_the_scheme_the_client_used(front: Front) -> None:
    script = fetch(front, "/boot/boot.ipxe").text
    assert f"chain --autofree https://localhost:{front.https}/boot/${{mac}}.ipxe" in script
    # booting machines may stay on plain http (old iPXE has no TLS): their URLs say http
    script = fetch(front, "/boot/boot.ipxe", tls=False).text
    assert f"chain --autofree http://localhost:{front.http}/boot/${{mac}}.ipxe" in script
    # the server itself, not through nginx: http (forwarding headers count only from a
    # trusted proxy; other peers: tests/unit/test_server_urls.py)
    conn = http.client.HTTPConnection("127.0.0.1", front.upstream, timeout=30)
    try:
        conn.request("GET", "/boot/boot.ipxe", headers={"Host": "localhost"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    assert "chain --autofree http://localhost/boot/" in text, text


def test_snapshot_files_come_from_nginx(front: Front) -> None:
    path = f"/image/server-amd64/{front.snapshot}/system.tar.zst.manifest"
    resp = fetch(front, path)
    assert resp.status == 200 and "sha512" in resp.text.lower()
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["X-Provision-Snapshot"] == front.snapshot
    assert served_by(front, path) == "nginx"
    packages = fetch(front, "/binhost/server-amd64/Packages")
    assert "CPV: app-misc/hello-1.0" in packages.text
    assert packages.headers["Cache-Control"] == "no-cache"
    assert served_by(front, "/binhost/server-amd64/Packages") == "nginx"
    # `current` is the server's: it names the snapshot installers then pin
    current = fetch(front, "/image/server-amd64/current/system.tar.zst.manifest")
    assert current.headers["X-Provision-Snapshot"] == front.snapshot
    assert served_by(front, "/image/server-amd64/current/system.tar.zst.manifest") != "nginx"
    # nothing outside the snapshots: the keys are not reachable
    assert fetch(front, "/binhost/server-amd64/../../keys/fingerprint").status in (400, 404)
    assert fetch(front, "/binhost/server-amd64/%2e%2e/%2e%2e/keys/fingerprint").status in (
        400,
        404,
    )


def test_binhost_client_installs_through_nginx(
    front: Front, demo_binhost: DemoBinhost, tmp_path: Path
) -> None:
    """A stock Portage client (verify-signature = true) over https through nginx; it trusts
    the self-signed certificate like a site CA (Python's SSL_CERT_FILE, wget's WGETRC)."""
    wgetrc = tmp_path / "wgetrc"
    wgetrc.write_text(f"ca_certificate = {front.cert}\n")
    env = {"SSL_CERT_FILE": str(front.cert), "WGETRC": str(wgetrc)}
    with client_dir() as where:
        client = client_for(demo_binhost, where / "client", f"https://localhost:{front.https}")
        conf = (where / "client/etc/portage/binrepos.conf/provision.conf").read_text()
        assert f"sync-uri = https://localhost:{front.https}/binhost/server-amd64" in conf
        log = tmp_path / "client.log"
        res = client.run("emerge", ["--ask=n", "app-misc/hello"], log_path=log, extra_env=env,
                         check=False)  # fmt: skip
        assert res.returncode == 0, log.read_text()[-3000:]
        assert "app-misc/hello-1.0" in client.installed()
    time.sleep(0.5)  # nginx logs just after answering
    hits = [ln for ln in front.access_log.read_text().splitlines() if ".gpkg.tar " in ln]
    assert hits and all("upstream=-" in ln and " 200 " in ln for ln in hits), hits
