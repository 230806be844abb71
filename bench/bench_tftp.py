"""TFTP throughput: our server (`provision tftp`, tftpy) against tftpd-hpa, on 127.0.0.1.

The same client (curl tftp://, which asks for blksize and tsize): one 16 MiB file at blksize
512 and 1468, one transfer at a time (medians of 3), then 50 clients at once each fetching a
2 MiB file (blksize 1468, median of 3 rounds), counting failed or corrupt transfers.  tftpd-hpa
runs as `in.tftpd --foreground --address 127.0.0.1:PORT --secure --user tftp DIR` (Debian's
tftpd-hpa package creates the tftp user).  Rows: the 16 MiB file at blksize 1468, and the 50
transfers at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bench.common import Row

MIB = 1024 * 1024
SIZE = 16 * MIB
SMALL = 2 * MIB
CLIENTS = 50
GOAL = 1.2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(argv: list[str], log: Path) -> Iterator[None]:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # as a service runs (see bench.common.process)
        )
    try:
        yield  # measure() waits until the server answers
    finally:
        proc.terminate()
        proc.wait(10)


def wait_ready(port: int, name: str, timeout: float = 15) -> None:
    """Until the server answers a read request (any TFTP reply) on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(
            ["curl", "-s", "--max-time", "1", f"tftp://127.0.0.1:{port}/probe.txt"],
            capture_output=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if res.returncode == 0:
            return
    raise RuntimeError(f"{name} did not answer on 127.0.0.1:{port}")


def fetch(port: int, blksize: int, want: str, name: str = "payload.bin") -> tuple[bool, float]:
    start = time.monotonic()
    res = subprocess.run(
        ["curl", "-sS", "--max-time", "120", "--tftp-blksize", str(blksize),
         f"tftp://127.0.0.1:{port}/{name}"],
        capture_output=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    ok = res.returncode == 0 and hashlib.sha256(res.stdout).hexdigest() == want
    return ok, elapsed


def single(port: int, blksize: int, want: str, name: str) -> float:
    ok, elapsed = fetch(port, blksize, want)
    if not ok:
        raise RuntimeError(f"{name}: transfer failed at blksize {blksize}")
    return elapsed


def windowed(port: int, want: str, tmp: Path) -> float:
    """One 16 MiB transfer by atftp asking windowsize 16 and blksize 1468, as UEFI firmware's
    TFTP client does (tftpd-hpa does not know the option and answers block by block)."""
    got = tmp / "windowed.bin"
    start = time.monotonic()
    subprocess.run(
        ["atftp", "--option", "blksize 1468", "--option", "windowsize 16", "-g",
         "-r", "payload.bin", "-l", str(got), "127.0.0.1", str(port)],
        capture_output=True, stdin=subprocess.DEVNULL, check=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    if hashlib.sha256(got.read_bytes()).hexdigest() != want:
        raise RuntimeError("atftp: corrupt transfer")
    got.unlink()
    return elapsed


def many(port: int, want_small: str) -> tuple[float, int]:
    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(
            pool.map(lambda _: fetch(port, 1468, want_small, "small.bin"), range(CLIENTS))
        )
    return time.monotonic() - start, sum(1 for ok, _ in results if not ok)


def measure(
    ports: dict[str, int], want: str, want_small: str, tmp: Path
) -> dict[str, dict[str, float]]:
    """Rounds that take turns between the servers (both running), so that load from elsewhere
    on the shared cores falls on both alike; medians of 3 rounds."""
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in ports}
    failed = dict.fromkeys(ports, 0)
    for _ in range(3):
        for blksize in (512, 1468):
            for name, port in ports.items():
                t = single(port, blksize, want, name)
                samples[name].setdefault(f"single_{blksize}", []).append(t)
        for name, port in ports.items():
            samples[name].setdefault("windowed", []).append(windowed(port, want, tmp))
        for name, port in ports.items():
            wall, bad = many(port, want_small)
            samples[name].setdefault("concurrent_wall", []).append(wall)
            failed[name] += bad
    return {
        name: {
            **{k: statistics.median(v) for k, v in got.items()},
            "concurrent_failed": failed[name],
        }
        for name, got in samples.items()
    }


def main() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-tftp-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        payload = os.urandom(SIZE)
        (root / "payload.bin").write_bytes(payload)
        (root / "small.bin").write_bytes(payload[:SMALL])
        want_small = hashlib.sha256(payload[:SMALL]).hexdigest()
        (root / "probe.txt").write_text("ok\n")
        for p in root.iterdir():
            os.chmod(p, 0o644)
        want = hashlib.sha256(payload).hexdigest()
        port, hpa_port = free_port(), free_port()
        ours = [sys.executable, "-m", "provision", "--data-dir", tmp, "tftp",
                "--listen", f"127.0.0.1:{port}", "--root", str(root)]  # fmt: skip
        hpa = ["in.tftpd", "--foreground", "--address", f"127.0.0.1:{hpa_port}", "--secure",
               "--user", "tftp", str(root)]  # fmt: skip
        with server(ours, Path(tmp) / "ours.log"), server(hpa, Path(tmp) / "hpa.log"):
            wait_ready(port, "provision tftp")
            wait_ready(hpa_port, "tftpd-hpa")
            ports = {"provision (tftpy)": port, "tftpd-hpa": hpa_port}
            results = measure(ports, want, want_small, Path(tmp))
    mib = SIZE / MIB
    print(
        f"file {mib:.0f} MiB, curl client, 127.0.0.1; {CLIENTS} concurrent clients fetching "
        f"{SMALL // MIB} MiB at blksize 1468"
    )
    print(f"{'server':<20}{'bs512 MiB/s':>13}{'bs1468 MiB/s':>14}{'50x wall s':>12}"
          f"{'50x MiB/s':>11}{'failed':>8}")  # fmt: skip
    for name, r in results.items():
        print(
            f"{name:<20}{mib / r['single_512']:>13.1f}{mib / r['single_1468']:>14.1f}"
            f"{r['concurrent_wall']:>12.2f}{CLIENTS * SMALL / MIB / r['concurrent_wall']:>11.1f}"
            f"{int(r['concurrent_failed']):>8}"
        )
    ours_r, hpa_r = results["provision (tftpy)"], results["tftpd-hpa"]
    print(
        "time ratio ours/tftpd-hpa: "
        f"bs512 {ours_r['single_512'] / hpa_r['single_512']:.2f}x, "
        f"bs1468 {ours_r['single_1468'] / hpa_r['single_1468']:.2f}x, "
        f"50 clients {ours_r['concurrent_wall'] / hpa_r['concurrent_wall']:.2f}x"
    )

    print(
        f"16 MiB by atftp asking windowsize 16 (as UEFI does): provision "
        f"{ours_r['windowed']:.2f} s, tftpd-hpa (no windowsize) {hpa_r['windowed']:.2f} s: "
        f"{ours_r['windowed'] / hpa_r['windowed']:.2f}x"
    )
    single = ours_r["single_1468"] / hpa_r["single_1468"]
    many = ours_r["concurrent_wall"] / hpa_r["concurrent_wall"]
    failed = int(ours_r["concurrent_failed"])
    return [
        Row(
            f"TFTP, {CLIENTS} x {SMALL // MIB} MiB at once",
            f"{ours_r['concurrent_wall']:.2f} s, {failed} failures",
            f"tftpd-hpa: {hpa_r['concurrent_wall']:.2f} s",
            many,
            f"<= {GOAL:g}x, 0 failures",
            many <= GOAL and failed == 0,
        ),
        Row(
            f"TFTP, one {mib:.0f} MiB file (blksize 1468)",
            f"{ours_r['single_1468']:.2f} s",
            f"tftpd-hpa: {hpa_r['single_1468']:.2f} s",
            single,
            f"<= {GOAL:g}x",
            single <= GOAL,
        ),
    ]


if __name__ == "__main__":
    main()
