"""Snapshot files before Flask: conditional requests, ranges, and only what the blueprint
would serve (anything doubtful goes on to it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.server import static
from provision.server.static import (
    Small,
    SmallFiles,
    SnapshotFiles,
    byte_range,
    clear_caches,
    not_modified,
)

BODY = bytes(range(256)) * 80  # 20 KiB


@pytest.fixture
def snap(app: Flask) -> Path:
    data: Path = app.config["PROVISION"].data_dir
    base = data / "snapshots" / "p"
    s = base / "20260101T000000Z-abcdef"
    (s / "binhost" / "app-misc" / "hello").mkdir(parents=True)
    (s / "image").mkdir()
    (s / "meta.json").write_text("{}")
    (s / "binhost" / "Packages").write_text("PACKAGES: 0\n")
    (s / "binhost" / "app-misc" / "hello" / "hello-1.0-1.gpkg.tar").write_bytes(BODY)
    (s / "image" / "system.tar.zst").write_bytes(BODY * 20)  # 400 KiB: the chunked path
    (s / "repo.tar.gz").write_bytes(b"gz")
    os.symlink(s.name, base / "current")
    clear_caches()
    return s


URL = "/binhost/p/app-misc/hello/hello-1.0-1.gpkg.tar"


@pytest.mark.parametrize(
    ("header", "size", "want"),
    [
        pytest.param(None, 100, None, id="none"),
        pytest.param("bytes=0-9", 100, (0, 9), id="first-ten"),
        pytest.param("bytes=90-", 100, (90, 99), id="open-end"),
        pytest.param("bytes=-5", 100, (95, 99), id="suffix"),
        pytest.param("bytes=50-500", 100, (50, 99), id="clipped"),
        pytest.param("bytes=100-", 100, False, id="past-end"),
        pytest.param("bytes=-0", 100, False, id="empty-suffix"),
        pytest.param("bytes=0-1,5-6", 100, None, id="several"),
        pytest.param("items=0-1", 100, None, id="other-unit"),
        pytest.param("bytes=5-1", 100, None, id="backwards"),
        pytest.param("bytes=x-1", 100, None, id="malformed"),
    ],
)
def test_byte_range(header: str | None, size: int, want: object) -> None:
    assert byte_range(header, size) == want


def test_not_modified_prefers_etag() -> None:
    env = {
        "HTTP_IF_NONE_MATCH": '"a", W/"b"',
        "HTTP_IF_MODIFIED_SINCE": "Thu, 01 Jan 2099 0:0:0 GMT",
    }
    assert not_modified(env, '"b"', 10.0)
    assert not not_modified(env, '"c"', 10.0)
    assert not_modified({"HTTP_IF_MODIFIED_SINCE": "Thu, 01 Jan 2099 00:00:00 GMT"}, '"c"', 10.0)
    assert not not_modified({"HTTP_IF_MODIFIED_SINCE": "garbage"}, '"c"', 10.0)


def test_file_with_validators_then_304(client: FlaskClient, snap: Path) -> None:
    resp = client.get(URL)
    assert resp.status_code == 200 and resp.data == BODY
    assert resp.headers["X-Provision-Snapshot"] == snap.name
    assert resp.headers["Content-Length"] == str(len(BODY))
    etag = resp.headers["ETag"]
    again = client.get(URL, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = client.get(URL, headers={"If-Modified-Since": resp.headers["Last-Modified"]})
    assert since.status_code == 304
    assert client.head(URL).data == b"" and client.head(URL).headers["ETag"] == etag
    assert client.get("/binhost/p/Packages").mimetype == "text/plain"


def test_ranges(client: FlaskClient, snap: Path) -> None:
    part = client.get(URL, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == BODY[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(BODY)}"
    stale = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.data == BODY
    assert client.get(URL, headers={"Range": "bytes=999999-"}).status_code == 416
    big = client.get("/image/p/current/system.tar.zst", headers={"Range": "bytes=-300000"})
    assert big.status_code == 206 and big.data == (BODY * 20)[-300000:]
    assert client.get(f"/image/p/{snap.name}/system.tar.zst").data == BODY * 20
    assert client.get("/repo/p/snapshot.tar.gz").data == b"gz"


def test_doubtful_requests_go_to_the_blueprint(app: Flask, snap: Path) -> None:
    outside = snap.parent.parent / "secret"
    outside.write_text("no")
    os.symlink(outside, snap / "binhost" / "leak")
    os.symlink("..", snap / "binhost" / "up")
    passed: list[str] = []

    def blueprint(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed.append(environ["PATH_INFO"])
        start_response("404 Not Found", [])
        return []

    layer = SnapshotFiles(blueprint, app.config["PROVISION"].data_dir)
    doubtful = [
        "/binhost/p/leak",
        "/binhost/p/up/meta.json",
        "/binhost/p/../../secret",
        "/binhost/p/app-misc/.hidden",
        "/binhost/p/missing",
        "/binhost/nope/Packages",
        "/binhost/p/",
        "/image/p/current/meta.json",
        "/image/p/20260101T000000Z-unpublished/system.tar.zst",
        "/repo/p/../x.tar.gz",
    ]
    for url in doubtful:
        body = layer({"REQUEST_METHOD": "GET", "PATH_INFO": url}, lambda *a: None)
        assert body == [], url
    post = layer({"REQUEST_METHOD": "POST", "PATH_INFO": URL}, lambda *a: None)
    assert post == [] and passed == [*doubtful, URL]


def flip_to(snap: Path, name: str, packages: str) -> Path:
    flip = snap.parent / name
    (flip / "binhost").mkdir(parents=True)
    (flip / "meta.json").write_text("{}")
    (flip / "binhost" / "Packages").write_text(packages)
    os.symlink(flip.name, snap.parent / "next")
    os.replace(snap.parent / "next", snap.parent / "current")  # as publish flips it
    return flip


def test_a_flip_shows_within_milliseconds(client: FlaskClient, snap: Path) -> None:
    """`current` is remembered until inotify reports a change in its directory: the flip shows
    as soon as the event is read (this process's watcher thread), and every answer until then
    is the previous snapshot's, whole (its data with its id)."""
    assert client.get("/binhost/p/Packages").data == b"PACKAGES: 0\n"
    flip = flip_to(snap, "20260102T000000Z-fedcba", "PACKAGES: 1\n")
    deadline = time.monotonic() + 2
    while True:
        resp = client.get("/binhost/p/Packages")
        answer = (resp.data, resp.headers["X-Provision-Snapshot"])
        if answer == (b"PACKAGES: 1\n", flip.name):
            break
        assert answer == (b"PACKAGES: 0\n", snap.name)
        assert time.monotonic() < deadline, "the flip did not show within 2 s"
        time.sleep(0.001)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The links os.readlink reads from here on."""
    seen: list[str] = []
    real_readlink = os.readlink

    def spy(path: str) -> str:
        seen.append(path)
        return real_readlink(path)

    monkeypatch.setattr(os, "readlink", spy)
    return seen


def test_current_is_read_again_only_after_a_change(
    app: Flask, snap: Path, reads: list[str]
) -> None:
    layer = SnapshotFiles(lambda e, s: [], app.config["PROVISION"].data_dir)
    assert layer.current("p") == snap.name and len(reads) == 1
    assert layer.current("p") == snap.name and len(reads) == 1  # remembered: no system call
    flip = flip_to(snap, "20260102T000000Z-fedcba", "PACKAGES: 1\n")
    deadline = time.monotonic() + 2
    while layer.current("p") != flip.name:
        assert time.monotonic() < deadline, "the flip did not show within 2 s"
        time.sleep(0.001)
    assert len(reads) >= 2 and layer.current("p") == flip.name
    assert layer.current("nosuch") is None and layer.current("nosuch") is None
    assert "nosuch" not in layer._current  # a directory that is not there is not remembered


def test_without_inotify_current_is_read_every_time(
    app: Flask, snap: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(static, "watcher", lambda: None)
    layer = SnapshotFiles(lambda e, s: [], app.config["PROVISION"].data_dir)
    assert [layer.current("p") for _ in range(3)] == [snap.name] * 3 and len(reads) == 3
    flip = flip_to(snap, "20260102T000000Z-fedcba", "PACKAGES: 1\n")
    assert layer.current("p") == flip.name  # at once


def test_small_files_are_answered_from_memory(
    app: Flask, snap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = SnapshotFiles(lambda e, s: [], app.config["PROVISION"].data_dir)
    got: list[str] = []

    def get(url: str, **headers: str) -> bytes:
        env = {"REQUEST_METHOD": "GET", "PATH_INFO": url, **headers}
        return b"".join(layer(env, lambda status, _headers: got.append(status)))

    assert get(URL) == BODY
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, *args: int) -> int:
        opened.append(path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", spy)
    assert get(URL) == BODY and get(URL, HTTP_RANGE="bytes=0-9") == BODY[:10]
    assert opened == []  # the same file (a stat says so): no second open
    assert get("/image/p/current/system.tar.zst") == BODY * 20  # a big file: opened each time
    assert len(opened) == 1
    assert got == ["200 OK", "200 OK", "206 Partial Content", "200 OK"]
    hello = snap / "binhost" / URL.removeprefix("/binhost/p/")
    hello.rename(hello.with_name("away"))  # a pruned snapshot, a file taken away
    assert get(URL) == b"" and layer.small.get(str(hello)) is None  # on to the blueprint
    hello.with_name("away").rename(hello)
    os.utime(hello, ns=(0, 0))
    assert get(URL) == BODY and len(opened) == 3  # another file: read again


def test_small_files_stay_within_their_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SmallFiles, "MEMORY", 10)
    files = SmallFiles()
    for name in "abc":
        files.add(name, Small(b"1234", '"e"', 0))
    assert files.get("a") is None and files.get("b") is not None and files.get("c") is not None
    files.add("d", Small(b"123456789", '"e"', 0))
    assert [files.get(n) is not None for n in "bcd"] == [False, False, True]
