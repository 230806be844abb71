"""Issue 15's attacks that need the real thing: `provision serve` (granian) on loopback for
the body cap and the data dir's modes, `provision tftp` and the TFTP server for blksize and
half-open requests.  Every one failed before the fix."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from provision.pxe.tftp import MAX_BLKSIZE, Fetch, TftpServer, session_limit
from provision.server.store import Store
from tests.integration.serve_fixture import Server, server_data, start_serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("live") / "data"
    server_data(data, "live-admin-password", fast_hash=True)
    (data / "server.toml").chmod(0o644)  # as a hand-made config often is
    old = os.umask(0o022)  # what a shell usually has: the server must not rely on it
    try:
        server = start_serve(data)
    finally:
        os.umask(old)
    yield server
    assert server.stop() == 0, "".join(server.output)


def raw_http(url: str, request: bytes, *, timeout: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except OSError:
            pass  # the server may close the connection on a refused body
        return answer


# --- 2. a body is refused by its size, before it is read ---------------------------------------
def test_2_huge_declared_body_is_refused_at_once(live: Server) -> None:
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    start = time.monotonic()
    answer = raw_http(live.url, head + b'{"password": "')  # and then nothing
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - start < 5


def test_2_chunked_body_over_the_cap_is_413(live: Server) -> None:
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(24)) + b"0\r\n\r\n"
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = raw_http(live.url, head + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_2_parallel_huge_bodies_do_not_stall_the_server(live: Server) -> None:
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 33554432\r\n\r\n"
    )
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: raw_http(live.url, head + b"{" * 65536), range(8)))
    assert all(a.startswith(b"HTTP/1.1 413") for a in answers), [a[:40] for a in answers]
    with urllib.request.urlopen(f"{live.url}/healthz", timeout=5) as resp:
        assert resp.read() == b"ok\n"


# --- 8. the data dir and the SQLite files are private --------------------------------------------
def test_8_data_dir_and_database_are_private(live: Server) -> None:
    data = live.data
    with urllib.request.urlopen(f"{live.url}/boot/52:54:00:00:00:42.ipxe", timeout=10):
        pass  # the server registers the host: its SQLite file is in use
    with closing(Store.in_data_dir(data)) as store:  # keeps -wal and -shm in use while we look
        assert store.find_host("52:54:00:00:00:42") is not None
        names = ("provision.sqlite", "provision.sqlite-wal", "provision.sqlite-shm", "server.toml")
        for path in (data, *(data / n for n in names)):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, (path, oct(mode))
    assert "server.toml was readable by others" in "".join(live.output)


# --- 13. TFTP: blksize fits a datagram; half-open requests cannot lock clients out ---------------
@pytest.fixture
def tftp_root(tmp_path: Path) -> Path:
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(150_000))
    (root / "small.txt").write_text("hello\n")
    return root


def rrq(name: str, **options: str) -> bytes:
    opts = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in options.items())
    return b"\0\x01" + name.encode() + b"\0octet\0" + opts


def test_13_blksize_is_clamped_to_a_datagram(tftp_root: Path) -> None:
    fetches: list[Fetch] = []
    server = TftpServer(tftp_root, on_fetch=fetches.append)
    _, port = server.start("127.0.0.1", 0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(rrq("big.bin", blksize="65536"), ("127.0.0.1", port))
            oack, peer = sock.recvfrom(70000)
            assert oack[:2] == b"\0\x06"
            fields = oack[2:].split(b"\0")[:-1]
            assert dict(zip(fields[::2], fields[1::2], strict=True)) == {b"blksize": b"65464"}
            received = b""
            block = 0
            while True:
                sock.sendto(b"\0\x04" + block.to_bytes(2, "big"), peer)
                data, _ = sock.recvfrom(70000)
                assert data[:2] == b"\0\x03", data[:40]
                block = int.from_bytes(data[2:4], "big")
                received += data[4:]
                if len(data) - 4 < MAX_BLKSIZE:
                    sock.sendto(b"\0\x04" + block.to_bytes(2, "big"), peer)
                    break
        assert received == (tftp_root / "big.bin").read_bytes()
    finally:
        server.stop()


def half_open(port: int, count: int) -> list[socket.socket]:
    """`count` read requests whose clients never answer (kept open so no ICMP ends them)."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(rrq("small.txt", blksize="1468"), ("127.0.0.1", port))
        socks.append(sock)
    return socks


def curl_tftp(port: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "5", f"tftp://127.0.0.1:{port}/small.txt"],
        capture_output=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_13_half_open_requests_do_not_lock_out_clients(tftp_root: Path, tmp_path: Path) -> None:
    """`provision tftp` under a low open-files limit (48): 40 requests that never answer, then
    a real client must be served at once (before: refused for ~30 s, "Too many open files")."""
    port = free_udp_port()
    log = tmp_path / "fetch.log"
    argv = [sys.executable, "-m", "provision", "--data-dir", str(tmp_path), "tftp",
            "--listen", f"127.0.0.1:{port}", "--root", str(tftp_root),
            "--log", str(log)]  # fmt: skip
    proc = subprocess.Popen(
        ["prlimit", "--nofile=48", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        assert "provision: TFTP serving" in proc.stdout.readline()
        socks = half_open(port, 40)
        time.sleep(0.5)
        start = time.monotonic()
        res = curl_tftp(port)
        assert res.returncode == 0 and res.stdout == b"hello\n", res.stderr
        assert time.monotonic() - start < 5
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Too many open files" not in err + log.read_text()
    assert "dropped: the client never answered" in log.read_text()


def test_13_sessions_are_bounded_and_busy_is_said(tftp_root: Path) -> None:
    """Every place taken by clients that do answer: a new request gets "server busy" (error 0)
    rather than a socket the process cannot afford."""
    fetches: list[Fetch] = []
    server = TftpServer(tftp_root, on_fetch=fetches.append, max_sessions=2)
    _, port = server.start("127.0.0.1", 0)
    socks = []
    try:
        for _ in range(2):  # two transfers that have started (block 1 acknowledged)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(5)
            sock.sendto(rrq("big.bin"), ("127.0.0.1", port))
            _, peer = sock.recvfrom(2048)
            sock.sendto(b"\0\x04\0\x01", peer)
            sock.recvfrom(2048)
            socks.append(sock)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as third:
            third.settimeout(5)
            third.sendto(rrq("small.txt"), ("127.0.0.1", port))
            answer, _ = third.recvfrom(2048)
        assert answer[:4] == b"\0\x05\0\0" and b"busy" in answer
        assert any(f.outcome == "busy" for f in fetches)
    finally:
        for sock in socks:
            sock.close()
        server.stop()


def test_13_session_limit_follows_the_open_files_limit() -> None:
    assert session_limit(128, nofile=1024) == 128
    assert session_limit(128, nofile=48) == 8
    assert session_limit(128, nofile=20) == 1
