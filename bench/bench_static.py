"""Binhost files over HTTP: `provision serve` against nginx on the same file.

A snapshot laid out as the publisher leaves it (snapshots/<p>/<id>/binhost, current -> id)
with a 20 KB package; wrk with 50 connections on GET /binhost/<p>/<path>, and nginx (sendfile,
one worker per core, no access log) serving that binhost directory; medians of 3 runs of 5 s.
Also checks that revalidation gets 304s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from werkzeug.security import generate_password_hash

from bench.bench_api import provision_serve
from bench.common import Row, nginx, warm, wrk_median

CONNECTIONS = 50
SIZE = 20 * 1024
REL = "app-misc/hello/hello-1.0-1.gpkg.tar"
GOAL = 0.25


def make_snapshot(data: Path) -> Path:
    snap = data / "snapshots" / "bench" / "20260101T000000Z-000000"
    (snap / "binhost" / "app-misc" / "hello").mkdir(parents=True)
    (snap / "meta.json").write_text("{}")
    (snap / "binhost" / "Packages").write_text("PACKAGES: 1\n")
    (snap / "binhost" / REL).write_bytes(os.urandom(SIZE))
    os.symlink(snap.name, snap.parent / "current")
    return snap / "binhost"


def revalidates(url: str) -> bool:
    head = subprocess.run(["curl", "-sI", url], capture_output=True, text=True, check=True).stdout
    etag = next(
        (line.split(":", 1)[1].strip() for line in head.splitlines()
         if line.lower().startswith("etag:")),
        "",
    )  # fmt: skip
    code = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}",
         url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return bool(etag) and code == "304"


def main() -> list[Row]:
    data = Path(tempfile.mkdtemp(prefix="bench-static-"))
    try:
        (data / "server.toml").write_text(
            f'secret_key = "{"b" * 40}"\n'
            f'admin_password_hash = "{generate_password_hash("x", "pbkdf2:sha256:1000")}"\n'
        )
        binhost = make_snapshot(data)
        with provision_serve(data) as port:
            url = f"http://127.0.0.1:{port}/binhost/bench/{REL}"
            warm(url)
            ours = wrk_median(url, CONNECTIONS)
            ours_304 = revalidates(url)
        # nginx's workers run as an unprivileged user, and `provision serve` keeps its data
        # dir private (0700): nginx serves a world-readable copy of the same binhost
        public = Path(tempfile.mkdtemp(prefix="bench-static-nginx-"))
        os.chmod(public, 0o755)
        shutil.copytree(binhost, public / "binhost")
        with nginx(public / "binhost") as port:
            url = f"http://127.0.0.1:{port}/{REL}"
            warm(url)
            peer = wrk_median(url, CONNECTIONS)
        shutil.rmtree(public, ignore_errors=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if peer.errors:
        raise RuntimeError(f"nginx answered {peer.errors} requests with errors: no valid peer")
    for name, ld in (("provision", ours), ("nginx", peer)):
        print(f"{name}: {ld.rps:,.0f} req/s, p50 {ld.p50_ms:.2f} ms, p99 {ld.p99_ms:.1f} ms, "
              f"{ld.errors} errors")  # fmt: skip
    print(f"revalidation with If-None-Match: {'304' if ours_304 else 'no 304'}")
    ratio = ours.rps / peer.rps
    return [
        Row(
            f"binhost file 20 KB, {CONNECTIONS} connections (wrk)",
            f"{ours.rps:,.0f} req/s, p50 {ours.p50_ms:.1f} ms" + ("" if ours_304 else ", no 304"),
            f"nginx (sendfile): {peer.rps:,.0f} req/s, p50 {peer.p50_ms:.1f} ms",
            ratio,
            f">= {GOAL:g}x and 304s",
            ratio >= GOAL and ours_304 and ours.errors == 0,
        )
    ]


if __name__ == "__main__":
    main()
