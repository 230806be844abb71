"""etc-merge's tools: diff3 three-way merges, the report POST to a loopback HTTP server, and
CONFIG_PROTECT read through real portageq (and the fallback when portageq cannot)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provision.errors import ProvisionError
from provision.etcmerge.merge import has_markers, three_way
from provision.etcmerge.report import post_report
from provision.etcmerge.target import Protect, Target, read_protect
from provision.portage.prefix import Prefix
from tests.conftest import DEMO_REPO

BASE = "".join(f"k{i} = {i}\n" for i in range(1, 7))


def test_three_way_clean_and_conflict() -> None:
    mine = BASE.replace("k1 = 1", "k1 = mine")
    theirs = BASE.replace("k6 = 6", "k6 = theirs")
    clean = three_way(mine, BASE, theirs, "/etc/x")
    assert clean.conflicts == 0
    assert clean.text == BASE.replace("k1 = 1", "k1 = mine").replace("k6 = 6", "k6 = theirs")
    bad = three_way(mine, BASE, BASE.replace("k1 = 1", "k1 = theirs"), "/etc/x")
    assert bad.conflicts == 1 and has_markers(bad.text)
    assert "<<<<<<< /etc/x (yours)\nk1 = mine\n" in bad.text
    assert "||||||| /etc/x (last shipped)\nk1 = 1\n=======\nk1 = theirs\n>>>>>>> /etc/x (new)" in (
        bad.text
    )


@pytest.fixture
def collector() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/json"
            got.append(json.loads(body))
            status = 204 if self.path == "/report" else 404
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_post_report(collector: tuple[str, list[dict[str, Any]]]) -> None:
    url, got = collector
    assert post_report(f"{url}/report", {"host": "h1", "pending": ["/etc/x"]}) == 204
    assert got == [{"host": "h1", "pending": ["/etc/x"]}]
    with pytest.raises(ProvisionError, match="HTTP 404"):
        post_report(f"{url}/nowhere", {"host": "h1"})
    with pytest.raises(ProvisionError, match="not an http"):
        post_report("ftp://127.0.0.1/", {})


def test_read_protect_from_real_portage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    prefix = Prefix(tmp_path / "prefix")
    prefix.create(
        repos_conf="[DEFAULT]\nmain-repo = provision-demo\n"
        f"[provision-demo]\nlocation = {DEMO_REPO}\n",
        portage_profile=DEMO_REPO / "profiles/default/linux/amd64/23.0",
        files={
            "etc/portage/make.conf": 'CONFIG_PROTECT="/var/lib/app"\n'
            'CONFIG_PROTECT_MASK="/etc/gconf"\n',
        },
    )
    target = Target(Path("/"), str(prefix.root))
    assert read_protect(target) == Protect(("/etc", "/var/lib/app"), ("/etc/env.d", "/etc/gconf"))
    # a target Portage cannot read (a broken make.conf line): the config files are read directly
    with open(prefix.config / "make.conf", "a") as fh:
        fh.write('BROKEN="no closing quote\n')
    assert "portageq failed" not in caplog.text
    assert read_protect(target) == Protect(("/etc", "/var/lib/app"), ("/etc/env.d", "/etc/gconf"))
    assert "portageq failed" in caplog.text
