"""The admin/installer API under a fleet's load, against the stack's own limit.

Starts the real server (`provision serve`, SQLite in a temp data dir, builder off, 16 threads),
registers 50 hosts with a few install events each, then:

- row: wrk with 100 connections on GET /api/v1/hosts/<mac> (host + events, admin Bearer token),
  against a minimal Flask app (one route, same path, same 16 threads) on waitress: req/s, p99,
  time-outs (wrk's 2 s), medians of 3 runs of 5 s;
- a mixed load as before: 100 client threads with keep-alive connections alternating the full
  host list, one host, and the installer's POST .../events.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.security import generate_password_hash

from bench.common import ROOT, Row, minimal_flask, process, warm, wrk_median

CLIENTS = 100
REQUESTS_PER_CLIENT = 30  # 3,000 requests in all
HOSTS = 50
EVENTS = 5
THREADS = 16
PASSWORD = "bench-password"


@contextmanager
def provision_serve(data: Path) -> Iterator[int]:
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    argv += ["--profiles-dir", str(ROOT / "profiles"), "serve", "--listen", "127.0.0.1:0"]
    argv += ["--no-build", "--threads", str(THREADS)]
    log = data / "serve.log"
    with process(argv, log):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", log.read_text())
            if m:
                yield int(m.group(1))
                return
            time.sleep(0.1)
        raise SystemExit(f"provision serve did not start:\n{log.read_text()[-2000:]}")


def call(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: object = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def setup(port: int) -> tuple[str, list[tuple[str, str]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/v1/auth/token", body=json.dumps({"password": PASSWORD}),
                 headers={"Content-Type": "application/json"})  # fmt: skip
    admin = json.loads(conn.getresponse().read())["token"]
    hosts = []
    for i in range(HOSTS):
        mac = f"52:54:00:00:{i // 256:02x}:{i % 256:02x}"
        status, raw = call(conn, "PUT", f"/api/v1/hosts/{mac}", admin, {"profile": "server-amd64"})
        assert status == 200, raw
        token = json.loads(raw)["host"]["token"]
        hosts.append((mac, token))
        for k in range(EVENTS):
            event = {"kind": "progress", "step": "packages", "progress": k / EVENTS}
            status, raw = call(conn, "POST", f"/api/v1/hosts/{mac}/events", token, event)
            assert status == 201, raw
    conn.close()
    return admin, hosts


def mixed(port: int, admin: str, hosts: list[tuple[str, str]]) -> str:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        start_gate.wait()
        for k in range(REQUESTS_PER_CLIENT):
            mac, host_token = hosts[(n + k) % HOSTS]
            kind = k % 3
            t0 = time.perf_counter()
            if kind == 0:
                status, _ = call(c, "GET", "/api/v1/hosts", admin)
            elif kind == 1:
                status, _ = call(c, "GET", f"/api/v1/hosts/{mac}", admin)
            else:
                event = {"kind": "progress", "step": "packages", "progress": k / 30}
                status, _ = call(c, "POST", f"/api/v1/hosts/{mac}/events", host_token, event)
            mine.append(time.perf_counter() - t0)
            if status not in (200, 201):
                with lock:
                    errors.append(f"{kind}: HTTP {status}")
        c.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return (
        f"mixed load: {len(latencies)} requests, {CLIENTS} clients: p50 {q[49] * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, {len(latencies) / wall:.0f} req/s, {len(errors)} errors"
    )


def main() -> list[Row]:
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        (data / "server.toml").write_text(
            f'secret_key = "{"b" * 40}"\n'
            f'admin_password_hash = "{generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")}"\n'
        )
        with provision_serve(data) as port:
            admin, hosts = setup(port)
            url = f"http://127.0.0.1:{port}/api/v1/hosts/{hosts[7][0]}"
            auth = (f"Authorization: Bearer {admin}",)
            warm(url, auth)
            ours = wrk_median(url, CLIENTS, headers=auth)
            print(mixed(port, admin, hosts), flush=True)
        with minimal_flask(THREADS, data) as port:
            url = f"http://127.0.0.1:{port}/api/v1/hosts/{hosts[7][0]}"
            warm(url)
            peer = wrk_median(url, CLIENTS)
    finally:
        subprocess.run(["true"], check=False)
        shutil.rmtree(data, ignore_errors=True)
    for name, ld in (("provision", ours), ("minimal Flask+waitress", peer)):
        print(f"{name}: {ld.rps:,.0f} req/s, p50 {ld.p50_ms:.1f} ms, p99 {ld.p99_ms:.1f} ms, "
              f"{ld.timeouts} time-outs, {ld.errors} errors")  # fmt: skip
    ratio = ours.rps / peer.rps
    ok = ratio >= 0.5 and ours.p99_ms < 250 and ours.timeouts == 0 and ours.errors == 0
    return [
        Row(
            f"GET /api/v1/hosts/<mac>, {CLIENTS} connections (wrk)",
            f"{ours.rps:,.0f} req/s, p99 {ours.p99_ms:.0f} ms, {ours.timeouts} time-outs",
            f"minimal Flask+waitress, {THREADS} threads: {peer.rps:,.0f} req/s, "
            f"p99 {peer.p99_ms:.0f} ms",
            ratio,
            ">= 0.5x, p99 < 250 ms, 0 time-outs",
            ok,
        )
    ]


if __name__ == "__main__":
    main()
