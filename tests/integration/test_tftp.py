"""Our TFTP server against real clients (curl, atftp) on 127.0.0.1.

Traversal, absolute paths, symlinks out and uploads are refused with TFTP errors while a large
transfer to another client runs to the end; blksize and tsize work; many clients at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provision.pxe.tftp import Fetch, TftpServer
from provision.run import run

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "tftp"
    (root / "pxelinux.cfg").mkdir(parents=True)
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "small.txt").write_text("hello\n")
    (root / "pxelinux.cfg" / "default").write_text("DEFAULT x\n")
    (tmp_path / "secret").write_text("secret\n")
    os.symlink("../secret", root / "out-link")
    os.symlink("small.txt", root / "in-link")
    return root


@pytest.fixture
def server(root: Path) -> Iterator[tuple[TftpServer, list[Fetch]]]:
    fetches: list[Fetch] = []

    def dynamic(path: str, client_ip: str) -> bytes | None:
        return f"dynamic {path} for {client_ip}\n".encode() if path.startswith("dyn/") else None

    srv = TftpServer(root, dynamic=dynamic, on_fetch=fetches.append)
    srv.start("127.0.0.1", 0)
    yield srv, fetches
    srv.stop()


def url(srv: TftpServer, path: str) -> str:
    assert srv.address is not None
    return f"tftp://127.0.0.1:{srv.address[1]}/{path}"


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--path-as-is", "--max-time", "60", *args],
        capture_output=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def settled(fetches: list[Fetch], count: int, timeout: float = 10) -> list[Fetch]:
    """The fetch log once it has `count` entries: a transfer is recorded when the server
    handles the client's last ACK, which can come after the client has exited."""
    deadline = time.monotonic() + timeout
    while len(fetches) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fetches) == count, fetches
    return fetches


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("blksize", ["512", "1468", "8192"])
def test_download_blksize_tsize(
    server: tuple[TftpServer, list[Fetch]], root: Path, blksize: str
) -> None:
    srv, fetches = server
    res = curl("--tftp-blksize", blksize, url(srv, "big.bin"))  # curl asks for tsize too
    assert res.returncode == 0, res.stderr
    assert sha(res.stdout) == sha((root / "big.bin").read_bytes())
    assert settled(fetches, 1)[0].outcome == "sent" and fetches[0].sent == 3 << 20


def test_atftp_blksize(server: tuple[TftpServer, list[Fetch]], root: Path, tmp_path: Path) -> None:
    srv, _ = server
    assert srv.address is not None
    (root / "mid.bin").write_bytes(os.urandom(5000))
    out = tmp_path / "got"
    res = run(
        ["atftp", "--option", "blksize 1468", "--trace", "-g", "-r", "mid.bin", "-l", out,
         "127.0.0.1", str(srv.address[1])]
    )  # fmt: skip
    assert out.read_bytes() == (root / "mid.bin").read_bytes()
    assert "DATA <block: 1, size 1468>" in res.stderr
    assert "DATA <block: 4, size 596>" in res.stderr


def test_oack_carries_blksize_and_tsize(server: tuple[TftpServer, list[Fetch]]) -> None:
    """The option acknowledgement on the wire (RFC 2347/2348/2349), read with a raw socket."""
    srv, _ = server
    assert srv.address is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        rrq = b"\0\x01small.txt\0octet\0blksize\x001468\0tsize\x000\0timeout\x005\0"
        sock.sendto(rrq, ("127.0.0.1", srv.address[1]))
        oack, peer = sock.recvfrom(2048)
        assert oack[:2] == b"\0\x06"
        fields = oack[2:].split(b"\0")[:-1]
        assert dict(zip(fields[::2], fields[1::2], strict=True)) == {
            b"blksize": b"1468",
            b"tsize": b"6",  # timeout is not negotiated, so not acknowledged
        }
        sock.sendto(b"\0\x04\0\0", peer)  # ACK 0
        data, _ = sock.recvfrom(2048)
        assert data == b"\0\x03\0\x01hello\n"
        sock.sendto(b"\0\x04\0\x01", peer)


def test_dynamic_file_and_inner_symlink(server: tuple[TftpServer, list[Fetch]]) -> None:
    srv, fetches = server
    assert curl(url(srv, "dyn/hello.ipxe")).stdout == b"dynamic dyn/hello.ipxe for 127.0.0.1\n"
    assert curl(url(srv, "in-link")).stdout == b"hello\n"
    assert [f.outcome for f in settled(fetches, 2)] == ["sent", "sent"]
    assert fetches[0].client.startswith("127.0.0.1:")


# curl exit codes: 68 = TFTP file not found, 69 = TFTP permission problem (access violation)
@pytest.mark.parametrize(
    ("path", "code", "reason"),
    [
        pytest.param("../secret", 69, "'..' is not allowed", id="traversal"),
        pytest.param("pxelinux.cfg/../../secret", 69, "'..' is not allowed", id="traversal-deep"),
        # a leading / is the TFTP root (as GRUB asks for /grub/grub.cfg): nothing outside it
        pytest.param("/etc/passwd", 68, "", id="absolute-means-the-root"),
        pytest.param("\\etc\\passwd", 69, "absolute paths are not served", id="backslash"),
        pytest.param("out-link", 69, "leads out of the TFTP root (symlink)", id="symlink-out"),
        pytest.param("pxelinux.cfg", 69, "not a regular file", id="directory"),
        pytest.param("nothing-here", 68, "", id="missing"),
    ],
)
def test_refused_reads(
    server: tuple[TftpServer, list[Fetch]], path: str, code: int, reason: str
) -> None:
    srv, fetches = server
    res = curl(url(srv, path))
    assert res.returncode == code, res.stderr
    assert res.stdout == b""
    assert settled(fetches, 1)[-1].path == path
    assert fetches[-1].reason == reason
    assert fetches[-1].outcome == ("not-found" if code == 68 else "refused")


def test_attacks_refused_while_serving_others(
    server: tuple[TftpServer, list[Fetch]], root: Path, tmp_path: Path
) -> None:
    srv, fetches = server
    assert srv.address is not None
    port = str(srv.address[1])
    upload = tmp_path / "upload.txt"
    upload.write_text("overwrite\n")
    (root / "huge.bin").write_bytes(os.urandom(30 << 20))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    # a long transfer (blksize 512: 61440 blocks) runs while the attacks come in
    big = subprocess.Popen(
        ["curl", "-sS", "--tftp-blksize", "512", url(srv, "huge.bin")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    passwd = str(tmp_path / "p")
    attacks = [
        ["curl", "-sS", "-T", str(upload), url(srv, "small.txt")],
        ["curl", "-sS", "-T", str(upload), url(srv, "new-file")],
        ["curl", "-sS", "--path-as-is", "-T", str(upload), url(srv, "../evil")],
        ["atftp", "-p", "-l", str(upload), "-r", "small.txt", "127.0.0.1", port],
        ["atftp", "-g", "-r", "../../../../etc/passwd", "-l", passwd, "127.0.0.1", port],
        ["atftp", "-g", "-r", "C:/etc/passwd", "-l", passwd, "127.0.0.1", port],
    ]  # fmt: skip
    for argv in attacks:
        res = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False)
        if argv[0] == "curl":
            assert res.returncode == 69, (argv, res.stderr)  # 69: TFTP access violation
        else:
            assert res.returncode != 0 and b"<Access violation>" in res.stderr, (argv, res.stderr)
    assert big.poll() is None  # the attacks were refused while it ran
    out, err = big.communicate(timeout=240)
    assert big.returncode == 0, err
    assert sha(out) == sha(before[root / "huge.bin"])
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before  # nothing written, nothing created
    assert not (tmp_path / "evil").exists()
    outcomes: list[str] = sorted(f.outcome for f in settled(fetches, 7))
    assert outcomes.count("write-refused") == 4  # ../evil is refused as a write as well
    assert outcomes.count("refused") == 2 and outcomes.count("sent") == 1
    # and it keeps serving
    assert curl(url(srv, "small.txt")).stdout == b"hello\n"


def test_many_clients_at_once(server: tuple[TftpServer, list[Fetch]], root: Path) -> None:
    srv, fetches = server
    want = sha((root / "big.bin").read_bytes()[: 3 << 20])
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: curl(url(srv, "big.bin")), range(20)))
    assert [r.returncode for r in results] == [0] * 20
    assert {sha(r.stdout) for r in results} == {want}
    assert [f.outcome for f in settled(fetches, 20)] == ["sent"] * 20


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli(root: Path, tmp_path: Path) -> None:
    port = free_udp_port()
    log = tmp_path / "fetch.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "provision", "--data-dir", str(tmp_path), "tftp",
         "--listen", f"127.0.0.1:{port}", "--root", str(root), "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "provision: TFTP serving" in proc.stdout.readline()
        res = curl(f"tftp://127.0.0.1:{port}/small.txt")
        assert res.stdout == b"hello\n"
        assert curl(f"tftp://127.0.0.1:{port}/../secret").returncode == 69
        deadline = time.monotonic() + 10
        while len(log.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    lines = log.read_text().splitlines()
    assert lines[0].endswith("sent 'small.txt' 6/6 bytes")
    assert lines[1].endswith("refused '../secret' ('..' is not allowed)")
    assert "sent 'small.txt'" in err  # the same log on stderr


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(b"\0\x01\xff\xfe\0octet\0", id="non-ascii-name"),
        pytest.param(b"\0\x01", id="truncated"),
        pytest.param(b"\0\x09junk", id="bad-opcode"),
    ],
)
def test_malformed_packet_does_not_stop_the_server(
    server: tuple[TftpServer, list[Fetch]], packet: bytes
) -> None:
    srv, _ = server
    assert srv.address is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(packet, ("127.0.0.1", srv.address[1]))
    assert curl(url(srv, "small.txt")).stdout == b"hello\n"


@pytest.mark.parametrize("size", [3 << 20, 1024 * 300], ids=["3MiB", "exact-blocks"])
def test_windowsize_rfc7440(
    server: tuple[TftpServer, list[Fetch]], root: Path, tmp_path: Path, size: int
) -> None:
    """atftp asks for windowsize (as UEFI firmware does): the server acknowledges it and sends
    whole windows; the file arrives intact, also when it ends on a block boundary (then an
    empty last block ends it), and the fetch log says sent."""
    srv, fetches = server
    assert srv.address is not None
    data = os.urandom(size)
    (root / "w.bin").write_bytes(data)
    got = tmp_path / "got.bin"
    res = subprocess.run(
        ["atftp", "--trace", "--option", "blksize 1024", "--option", "windowsize 8",
         "-g", "-r", "w.bin", "-l", str(got), "127.0.0.1", str(srv.address[1])],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    trace = res.stdout + res.stderr
    assert "received OACK <windowsize: 8," in trace  # the server took the option
    assert trace.count(" DATA <block: ") == size // 1024 + 1  # no block twice
    assert got.read_bytes() == data
    (fetch,) = settled(fetches, 1)
    assert (fetch.outcome, fetch.sent, fetch.size) == ("sent", size, size)
