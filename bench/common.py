"""What the benchmarks share: result rows (project / peer / ratio / goal), medians, the peers
(wrk, nginx, a minimal Flask app on waitress), free ports and waiting for a server.

Every row compares the project with a peer measured in the same run on the same machine: the
2 cores here are shared, so absolute numbers drift between runs while ratios hold.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3  # medians of 3


@dataclass(frozen=True)
class Row:
    """One line of the summary: the project's figure, the peer's, their ratio and the goal."""

    work: str
    project: str  # the project's figure, as text ("2,310 req/s, p99 84 ms")
    peer: str  # the peer's, with its name
    ratio: float  # the compared quantity: project / peer (time) or project / peer (rate)
    goal: str  # e.g. "<= 1.3x", ">= 0.5x"
    ok: bool
    note: str = ""

    def line(self) -> str:
        verdict = "met" if self.ok else "NOT MET"
        note = f"  ({self.note})" if self.note else ""
        return (
            f"| {self.work} | {self.project} | {self.peer} | {self.ratio:.2f}x | {self.goal} "
            f"| {verdict}{note} |"
        )


def at_most(limit: float, ratio: float) -> bool:
    return ratio <= limit


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of fn over runs."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return median(samples)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- wrk -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    timeouts: int
    errors: int  # connect/read/write errors and non-2xx/3xx answers
    requests: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> Load:
    """Pure: wrk --latency output -> Load."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    timeouts = errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += int(m.group(1)) + int(m.group(2)) + int(m.group(3))
        timeouts = int(m.group(4))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return Load(rps, p50, p99, timeouts, errors, requests)


def wrk(url: str, connections: int, *, seconds: int = 5, headers: tuple[str, ...] = ()) -> Load:
    threads = min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["--timeout", "2s"]
    for h in headers:
        argv += ["-H", h]
    res = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    return parse_wrk(res.stdout)


def wrk_median(
    url: str, connections: int, *, runs: int = RUNS, seconds: int = 5, headers: tuple[str, ...] = ()
) -> Load:
    """The run with the median rate of `runs` (its own latencies), time-outs summed."""
    loads = sorted(
        (wrk(url, connections, seconds=seconds, headers=headers) for _ in range(runs)),
        key=lambda ld: ld.rps,
    )
    mid = loads[len(loads) // 2]
    return Load(
        mid.rps,
        mid.p50_ms,
        median([ld.p99_ms for ld in loads]),
        sum(ld.timeouts for ld in loads),
        sum(ld.errors for ld in loads),
        sum(ld.requests for ld in loads),
    )


def warm(url: str, headers: tuple[str, ...] = ()) -> None:
    subprocess.run(
        ["wrk", "-t1", "-c4", "-d1s", *(x for h in headers for x in ("-H", h)), url],
        capture_output=True,
        check=False,
    )


# --- processes -------------------------------------------------------------------------------
@contextmanager
def process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            # its own session, as a service runs (systemd, start-stop-daemon): with the kernel's
            # autogroup scheduling, a server started in the benchmark's session would share
            # one group's CPU with the load generator that measures it
            start_new_session=True,
        )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


NGINX_CONF = """\
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; etag on; }}
    }}
}}
"""


@contextmanager
def nginx(root: Path) -> Iterator[int]:
    """nginx serving `root` on a free loopback port (sendfile, a worker per core, no log)."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise RuntimeError("nginx is not installed (Debian: apt install nginx)")
    work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    (work / "tmp").mkdir()
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, port=port, root=root))
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        with process([nginx_bin, "-c", str(conf), "-e", str(work / "error.log")], work / "log"):
            wait_http(port)
            yield port
    finally:
        shutil.rmtree(work, ignore_errors=True)


MINIMAL_APP = textwrap.dedent(
    """\
    import sys
    import waitress
    from flask import Flask, jsonify

    app = Flask("minimal")

    @app.get("/api/v1/hosts/<mac>")
    def host(mac):
        return jsonify(host={"mac": mac}, events=[])

    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
                   connection_limit=1000, _quiet=True)
    """
)


@contextmanager
def minimal_flask(threads: int, work: Path) -> Iterator[int]:
    """The stack's own limit: a minimal Flask app on waitress with the same threads."""
    script = work / "minimal_app.py"
    script.write_text(MINIMAL_APP)
    port = free_port()
    with process([sys.executable, str(script), str(port), str(threads)], work / "minimal.log"):
        wait_http(port)
        yield port
