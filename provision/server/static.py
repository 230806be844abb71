"""Snapshot files by the fastest path the server has: a WSGI layer in front of Flask.

A fleet updating at once asks for binhost files far more than for anything else, so the
common case skips Flask's routing and response objects:

    GET|HEAD /binhost/<profile>/<path>            the current snapshot's binhost
    GET|HEAD /image/<profile>/<current|id>/<name> a snapshot's system image files
    GET|HEAD /repo/<profile>/<snapshot|id>.tar.gz a snapshot's repository tarball

served with ETag and Last-Modified, 304 for a matching If-None-Match / If-Modified-Since, and
one byte range (206, 416) honouring If-Range.  The `current` link is remembered while inotify
reports no change in its directory (provision.server.watch: a flip shows as soon as its event is
read, within milliseconds; without inotify it is read per request), snapshot directories are
resolved once (they are immutable),
a file is opened without following a last symlink and checked to be a regular file.  Bodies:
small files in one piece, big ones in 1 MiB chunks from an iterator that closes the file when
the server closes it; never the whole of a big file in memory.

Anything this layer is not sure about (a name outside the strict pattern, a symlink, a missing
file, another method) goes on to the Flask blueprint (routes/binhost.py), which has the last
word on validation and error answers: this layer only ever serves what the blueprint would.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from provision.server.watch import watcher

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SEGMENT = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+,=@-]{0,254}")
IMAGE_FILES = frozenset(
    {"system.tar.zst", "system.tar.zst.manifest", "system.tar.zst.manifest.asc"}
)
MAX_DEPTH = 6
SMALL = 256 * 1024  # read in one piece up to this size
CHUNK = 1024 * 1024
OCTETS = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL names: a file in a snapshot directory (not yet opened).  Plain strings:
    pathlib costs more than the rest of an answer."""

    snapshot_id: str  # goes in X-Provision-Snapshot
    directory: str  # the part of the snapshot the file must stay inside
    relative: str  # '/'-separated, every segment matched SEGMENT
    mimetype: str = OCTETS


# --- pure parts ------------------------------------------------------------------------------
def etag_of(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def not_modified(environ: dict[str, Any], etag: str, mtime: float) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    inm = environ.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = environ.get("HTTP_IF_MODIFIED_SINCE")
    if ims:
        try:
            return int(mtime) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """One range of a Range header as (first, last) inclusive; None: serve the whole file
    (no header, several ranges, not bytes, malformed); False: unsatisfiable (416)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if (
        not dash
        or not (first_s.isdigit() or first_s == "")
        or not (last_s.isdigit() or last_s == "")
    ):
        return None
    if first_s == "":
        if last_s == "":
            return None
        length = int(last_s)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    first = int(first_s)
    if first >= size:
        return False
    last = int(last_s) if last_s else size - 1
    if last < first:
        return None
    return first, min(last, size - 1)


def split_path(path: str) -> list[str] | None:
    """The segments of a URL path below a prefix, each a safe file name; None otherwise."""
    parts = path.split("/")
    if not 0 < len(parts) <= MAX_DEPTH or not all(SEGMENT.fullmatch(p) for p in parts):
        return None
    return parts


# --- the WSGI layer --------------------------------------------------------------------------
class SnapshotFiles:
    """WSGI middleware serving snapshot files before `app` (see the module docstring)."""

    def __init__(self, app: WSGIApp, data_dir: Path) -> None:
        self.app = app
        self.snapshots = os.path.join(data_dir, "snapshots")
        self.small = SmallFiles()
        self._current: dict[str, tuple[str, int, int]] = {}  # profile -> (id, generations)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            target = self.target(environ.get("PATH_INFO", ""))
            if target is not None:
                answer = self.serve(environ, start_response, target, method == "HEAD")
                if answer is not None:
                    return answer
        return self.app(environ, start_response)

    # which file a URL names
    def target(self, path: str) -> Target | None:
        prefix, _, rest = path[1:].partition("/")
        profile, _, rest = rest.partition("/")
        if not NAME.fullmatch(profile):
            return None
        if prefix == "binhost":
            if split_path(rest) is None:
                return None
            sid = self.current(profile)
            if sid is None:
                return None
            mimetype = "text/plain" if rest == "Packages" else OCTETS
            return Target(sid, f"{self.snapshots}/{profile}/{sid}/binhost", rest, mimetype)
        if prefix == "image":
            snapshot, _, name = rest.partition("/")
            sid = self.snapshot(profile, snapshot, "current")
            if sid is None or name not in IMAGE_FILES:
                return None
            return Target(sid, f"{self.snapshots}/{profile}/{sid}/image", name)
        if prefix == "repo" and rest.endswith(".tar.gz"):
            sid = self.snapshot(profile, rest.removesuffix(".tar.gz"), "snapshot")
            if sid is None:
                return None
            directory = f"{self.snapshots}/{profile}/{sid}"
            return Target(sid, directory, "repo.tar.gz", "application/gzip")
        return None

    def current(self, profile: str) -> str | None:
        """The id `current` points to: remembered while inotify reports no change in the
        profile's directory or in snapshots/ (provision.server.watch: a flip shows within
        milliseconds), else read per request (at once)."""
        directory = f"{self.snapshots}/{profile}"
        w = watcher()
        known = self._current.get(profile)
        if known is not None and w is not None:
            sid, here, above = known
            if (w.generation(directory), w.generation(self.snapshots)) == (here, above):
                return sid
        generations = None
        if w is not None:  # watched before the read: a change after it is an event
            parent, own = w.watch(self.snapshots), w.watch(directory)
            if parent is not None and own is not None:
                generations = (own, parent)
        try:
            sid = os.readlink(f"{directory}/current")
        except OSError:
            return None
        if not NAME.fullmatch(sid):
            return None
        if generations is not None:
            self._current[profile] = (sid, *generations)
        return sid

    def snapshot(self, profile: str, sid: str, current_word: str) -> str | None:
        if sid == current_word:
            return self.current(profile)
        if not NAME.fullmatch(sid) or not _published(f"{self.snapshots}/{profile}/{sid}"):
            return None
        return sid

    # the answer
    def serve(
        self, environ: dict[str, Any], start_response: StartResponse, t: Target, head: bool
    ) -> Iterable[bytes] | None:
        path = f"{t.directory}/{t.relative}"
        known = self.small.get(path)
        if known is not None:
            try:
                st = os.stat(path, follow_symlinks=False)  # still there, still the same file
            except OSError:
                st = None
            if st is not None and etag_of(st) == known.etag:
                return _answer(environ, start_response, t, known, head)
            self.small.forget(path)
        parent = t.relative.rpartition("/")[0]
        if not _inside(t.directory, parent):
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None  # missing, a symlink, unreadable: the blueprint decides
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                return None
            if st.st_size <= SMALL:
                data = os.pread(fd, st.st_size, 0)
                os.close(fd)
                if len(data) != st.st_size:
                    return None  # changing under us: not a published file
                body: Body = self.small.add(path, Small(data, etag_of(st), int(st.st_mtime)))
            else:
                body = OpenFile(fd, etag_of(st), int(st.st_mtime), st.st_size)
        except BaseException:
            os.close(fd)
            raise
        try:
            return _answer(environ, start_response, t, body, head)
        except BaseException:
            body.close()
            raise


# --- bodies ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Small:
    """A small file of a snapshot, in memory, answered while a stat of its path shows the same
    file (inode, size, mtime: its ETag) — a published snapshot's files do not change, but a
    snapshot can be pruned."""

    data: bytes
    etag: str
    mtime: int

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, first: int, length: int) -> list[bytes]:
        return [self.data[first : first + length]]

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class OpenFile:
    """A big file, open: its body comes in chunks from an iterator that closes it."""

    fd: int
    etag: str
    mtime: int
    size: int

    def read(self, first: int, length: int) -> Iterable[bytes]:
        # Our own chunk iterator, not the server's wsgi.file_wrapper: the iterator closes the
        # file when the server closes it (PEP 3333), also after a client went away mid-body,
        # where waitress's wrapper could be dropped with the file still open (granian has none).
        return _chunks(self.fd, first, length)

    def close(self) -> None:
        os.close(self.fd)


Body = Small | OpenFile


class SmallFiles:
    """Small snapshot files kept in memory by path, up to MEMORY bytes in all, the oldest
    forgotten first.  A binhost answer from here costs one system call (a stat: still there,
    still the same file; `current` is remembered, see SnapshotFiles.current) instead of six:
    under many threads each one is a hand-off of the GIL (issue 20)."""

    MEMORY = 32 * 1024 * 1024

    def __init__(self) -> None:
        self._files: dict[str, Small] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str) -> Small | None:
        return self._files.get(path)

    def forget(self, path: str) -> None:
        with self._lock:
            gone = self._files.pop(path, None)
            if gone is not None:
                self._bytes -= gone.size

    def add(self, path: str, small: Small) -> Small:
        with self._lock:
            if path not in self._files:
                while self._files and self._bytes + small.size > self.MEMORY:
                    self._bytes -= self._files.pop(next(iter(self._files))).size
                self._files[path] = small
                self._bytes += small.size
        return small


def _answer(
    environ: dict[str, Any], start_response: StartResponse, t: Target, body: Body, head: bool
) -> Iterable[bytes]:
    """Headers, 304, 416 or one range, and the body: closed here once the answer has no body,
    else by whoever iterates it; if start_response raises, the caller closes it."""
    etag = body.etag
    headers = [
        ("Content-Type", t.mimetype),
        ("ETag", etag),
        ("Last-Modified", _http_date(body.mtime)),
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", "no-cache"),
        ("X-Provision-Snapshot", t.snapshot_id),
    ]
    size = body.size
    if not_modified(environ, etag, body.mtime):
        start_response("304 Not Modified", headers[1:])
        body.close()
        return []
    wanted = byte_range(environ.get("HTTP_RANGE"), size)
    if_range = environ.get("HTTP_IF_RANGE")
    if wanted is not None and if_range and if_range.strip() != etag:
        wanted = None  # the client's copy is another version: the whole file
    if wanted is False:
        start_response(
            "416 Range Not Satisfiable", [*headers, ("Content-Range", f"bytes */{size}")]
        )
        body.close()
        return []
    status, first, length = "200 OK", 0, size
    if isinstance(wanted, tuple):
        first, last = wanted
        length = last - first + 1
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    headers.append(("Content-Length", str(length)))
    start_response(status, headers)
    if head or length == 0:
        body.close()
        return []
    return body.read(first, length)


def _chunks(fd: int, first: int, length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            data = os.pread(fd, min(CHUNK, length), first)
            if not data:
                return
            first += len(data)
            length -= len(data)
            yield data
    finally:
        os.close(fd)


@lru_cache(maxsize=1024)
def _inside(directory: str, parent: str) -> bool:
    """Whether directory/parent, symlinks resolved, is (inside) directory's own real path.
    Cached: snapshot directories never change once published."""
    base = os.path.realpath(directory)
    real = os.path.realpath(os.path.join(directory, parent)) if parent else base
    return (real == base or real.startswith(base + os.sep)) and os.path.isdir(real)


@lru_cache(maxsize=4096)
def _http_date(mtime: int) -> str:
    return formatdate(mtime, usegmt=True)


@lru_cache(maxsize=256)
def _published(snapshot: str) -> bool:
    return os.path.isfile(os.path.join(snapshot, "meta.json"))


def clear_caches() -> None:
    """Forget resolved directories (tests that rewrite a data dir in place)."""
    _inside.cache_clear()
    _published.cache_clear()
    _http_date.cache_clear()
