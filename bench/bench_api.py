"""API latency under load: 100 concurrent clients against `provision serve` on loopback.

Starts the real server (waitress, SQLite in a temp data dir, builder off), registers 50 hosts,
then 100 client threads with keep-alive connections send a bounded number of requests:
admin GET /api/v1/hosts (the full list), GET /api/v1/hosts/<mac> (host + events), and the
installer's POST /api/v1/hosts/<mac>/events.  Prints p50/p90/p99 latency and throughput.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from werkzeug.security import generate_password_hash

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 100
REQUESTS_PER_CLIENT = 30  # 3,000 requests in all
HOSTS = 50
PASSWORD = "bench-password"


def start(data: Path) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    argv += ["--profiles-dir", str(ROOT / "profiles"), "serve", "--listen", "127.0.0.1:0"]
    argv += ["--no-build", "--threads", "16"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, int(m.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("provision serve did not start")


def call(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: object = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (data / "server.toml").write_text(
        f'secret_key = "{"b" * 40}"\n'
        f'admin_password_hash = "{generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")}"\n'
    )
    proc, port = start(data)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/api/v1/auth/token", body=json.dumps({"password": PASSWORD}),
                     headers={"Content-Type": "application/json"})  # fmt: skip
        admin = json.loads(conn.getresponse().read())["token"]
        hosts = []
        for i in range(HOSTS):
            mac = f"52:54:00:00:{i // 256:02x}:{i % 256:02x}"
            status, raw = call(
                conn, "PUT", f"/api/v1/hosts/{mac}", admin, {"profile": "server-amd64"}
            )
            assert status == 200, raw
            hosts.append((mac, json.loads(raw)["host"]["token"]))
        conn.close()

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
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"api: {len(latencies)} requests, {CLIENTS} concurrent clients, {os.cpu_count()} cores: "
        f"p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms, {len(latencies) / wall:.0f} req/s, "
        f"{len(errors)} errors"
    )
    if errors:
        raise SystemExit(f"errors: {errors[:5]}")


if __name__ == "__main__":
    main()
