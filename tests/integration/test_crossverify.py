"""Two builders (different EPREFIX) build the demo packages; cross-verification over HTTP."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.crossverify import Verdict, cross_verify
from provision.profiles import ProfileSet
from tests.conftest import DEMO_REPO
from tests.integration.portage_env import demo_prefix


@pytest.fixture
def serve_dir() -> Iterator[functools.partial[str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield functools.partial(start)
    for s in servers:
        s.shutdown()
        s.server_close()


def test_cross_verification(
    tmp_path: Path, profiles_dir: Path, serve_dir: functools.partial[str]
) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    atoms = ["--ask=n", "--buildpkgonly", "app-misc/hello", "app-admin/democonf"]
    # builder A and builder B: same tree, same settings, different EPREFIX
    a, pkgs_a = demo_prefix(tmp_path / "a", profile)
    a.run("emerge", atoms)
    b, pkgs_b = demo_prefix(tmp_path / "b-other-prefix", profile)
    b.run("emerge", atoms)
    results = {r.cpv: r for r in cross_verify(pkgs_a, serve_dir(pkgs_b))}
    assert {cpv: r.verdict for cpv, r in results.items()} == {
        "app-admin/democonf-1.0": Verdict.AGREE,
        "app-misc/hello-1.0": Verdict.AGREE,
    }

    # builder C was tampered with: its hello prints something else
    repo = tmp_path / "repo-c"
    shutil.copytree(DEMO_REPO, repo)
    src = repo / "app-misc/hello/files/hello.c"
    src.write_text(src.read_text().replace("hello from", "owned by"))
    c, pkgs_c = demo_prefix(tmp_path / "c", profile, repo=repo)
    c.run("emerge", ["--ask=n", "--buildpkgonly", "app-misc/hello"])
    results = {r.cpv: r for r in cross_verify(pkgs_a, serve_dir(pkgs_c))}
    assert results["app-misc/hello-1.0"].verdict is Verdict.DIFFER
    assert results["app-misc/hello-1.0"].details == ("/usr/bin/hello: content differs",)
    assert results["app-admin/democonf-1.0"].verdict is Verdict.ONLY_HERE
