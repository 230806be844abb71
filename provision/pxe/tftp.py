"""Read-only TFTP server on tftpy, confined to its root, with dynamic files and a fetch log.

tftpy does the protocol (blksize and tsize negotiation, retransmits, many sessions in one select
loop).  We replace the first step of every session: our start state refuses write requests
(TFTP error 2, access violation), confines the path (pxe.paths), serves regular files from the
root or, when a name is not on disk, the bytes of the `dynamic` callable (tftpy's dyn_file_func
idea), and records every request as a `Fetch` (logged, and handed to `on_fetch`).

Bounded for a hostile LAN: a blksize is acknowledged as at most MAX_BLKSIZE (what one UDP
datagram carries), at most `max_sessions` transfers run at once (fewer when the file-descriptor
limit is low: each holds a socket and a file), and a session whose client has not answered
within `handshake_timeout` (a half-open request) gives its place to a new request.  When every
place is taken by a client that answers, a new request gets "server busy" (TFTP error 0).

    server = TftpServer(root, dynamic=render)
    host, port = server.start("0.0.0.0", 69)    # a background thread
    ...
    server.stop()
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import resource
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import tftpy
from tftpy.TftpPacketTypes import TftpPacketERR, TftpPacketRRQ, TftpPacketWRQ
from tftpy.TftpShared import TftpErrors, TftpException
from tftpy.TftpStates import TftpState, TftpStateExpectACK

from provision.errors import ConfigError, ProvisionError
from provision.pxe.paths import PathRefused, clean_path, resolve_in_root

log = logging.getLogger("provision.tftp")

MAX_BLKSIZE = 65464  # RFC 2348's largest: one block + headers fits a UDP datagram
MAX_SESSIONS = 128  # transfers at once (see session_limit)
HANDSHAKE_TIMEOUT = 2.0  # seconds a new session may wait for its client's first answer
FD_RESERVE = 32  # descriptors kept for everything else in the process
BUSY = struct.pack("!HH", 5, 0) + b"server busy, try again\0"  # TFTP error 0

# A dynamic file: (relative path, client IP) -> content, or a file outside the root to send
# (the server's own choice, e.g. the live kernel), or None when there is no such file.
Dynamic = Callable[[str, str], bytes | Path | None]


class Outcome(StrEnum):
    SENT = "sent"
    INCOMPLETE = "incomplete"  # the client stopped (or timed out) before the end
    BUSY = "busy"  # every place was taken by a client that answers
    REFUSED = "refused"  # a path outside the root, or not allowed
    NOT_FOUND = "not-found"
    WRITE_REFUSED = "write-refused"  # a write request: this server is read-only


@dataclass(frozen=True)
class Fetch:
    """One request, for the log of who fetched what."""

    time: float
    client: str  # ip:port
    path: str  # as requested
    outcome: Outcome
    size: int = 0  # bytes in the file
    sent: int = 0  # bytes handed to the client
    reason: str = ""

    def line(self) -> str:
        text = f"tftp {self.client} {self.outcome} {self.path!r}"
        if self.outcome in (Outcome.SENT, Outcome.INCOMPLETE):
            text += f" {self.sent}/{self.size} bytes"
        return text + (f" ({self.reason})" if self.reason else "")


class TftpServer:
    """A read-only TFTP server for one root directory; start()/stop() run it in a thread."""

    def __init__(
        self,
        root: Path,
        *,
        dynamic: Dynamic | None = None,
        on_fetch: Callable[[Fetch], None] | None = None,
        timeout: float = 5.0,
        retries: int = 5,
        max_sessions: int = MAX_SESSIONS,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        if not root.is_dir():
            raise ConfigError(str(root), "TFTP root is not a directory")
        if max_sessions < 1 or handshake_timeout <= 0:
            raise ConfigError("tftp", "max_sessions and handshake_timeout must be positive")
        self.root = root.resolve()
        self.dynamic = dynamic
        self.on_fetch = on_fetch
        self.timeout = timeout
        self.retries = retries
        self.max_sessions = session_limit(max_sessions)
        self.handshake_timeout = handshake_timeout
        self._server = _Tftpy(self)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.address: tuple[str, int] | None = None

    # --- lifecycle -------------------------------------------------------------------
    def serve_forever(self, host: str, port: int) -> None:
        """Listen on host:port until stop() (blocking)."""
        try:
            self._server.listen(host, port, timeout=self.timeout, retries=self.retries)
        except OSError as exc:
            raise ProvisionError(f"TFTP server cannot listen on {host}:{port}: {exc}") from exc

    def start(self, host: str, port: int, *, wait: float = 10.0) -> tuple[str, int]:
        """Listen on host:port (0: any free port) in a daemon thread; returns the address."""

        def run() -> None:
            try:
                self.serve_forever(host, port)
            except BaseException as exc:  # reported to start() or stop()
                self._error = exc
                self._server.is_running.set()

        self._thread = threading.Thread(target=run, name=f"tftp-{host}:{port}", daemon=True)
        self._thread.start()
        if not self._server.is_running.wait(wait):
            raise ProvisionError(f"TFTP server did not start on {host}:{port}")
        if self._error is not None:
            raise self._error
        self.address = (host, int(self._server.listenport))
        log.info("tftp: serving %s on %s:%d", self.root, *self.address)
        return self.address

    def wait(self) -> None:
        """Block until the server thread ends (stop(), or an error, which is raised)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop now (open transfers are dropped) and wait for the thread."""
        if self._thread is None:
            return
        self._server.stop(now=True)
        if self.address is not None:
            _wake(self.address)
        self._thread.join(timeout)
        self._thread = None

    # --- per request -----------------------------------------------------------------
    def open(self, requested: str, client_ip: str) -> tuple[BinaryIO, int]:
        """The file to send for a request and its size; PathRefused or FileNotFoundError."""
        relative = clean_path(requested)
        path = resolve_in_root(self.root, relative)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            data = self.dynamic(relative, client_ip) if self.dynamic else None
            if data is None:
                raise
            if not isinstance(data, Path):
                return io.BytesIO(data), len(data)
            try:
                fd = os.open(data, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                raise FileNotFoundError(requested) from exc
        except OSError as exc:
            raise PathRefused(requested, exc.strerror or "cannot open") from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise PathRefused(requested, "not a regular file")
        return os.fdopen(fd, "rb"), info.st_size

    def record(self, fetch: Fetch) -> None:
        log.info("%s", fetch.line())
        if self.on_fetch is not None:
            self.on_fetch(fetch)


def session_limit(wanted: int, nofile: int | None = None) -> int:
    """Sessions that fit the file-descriptor limit (a socket and a file each), at most wanted."""
    if nofile is None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (nofile - FD_RESERVE) // 2))


def _wake(address: tuple[str, int]) -> None:
    """Send one ERR packet so tftpy's select loop notices a stop request at once."""
    host = "127.0.0.1" if address[0] in ("", "0.0.0.0") else address[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(struct.pack("!HH", 5, 0) + b"stop\0", (host, address[1]))


class _Tftpy(tftpy.TftpServer):  # type: ignore[misc]
    """tftpy's server whose sessions start in our state (see _Sessions)."""

    def __init__(self, owner: TftpServer) -> None:
        super().__init__(str(owner.root))
        self.sessions = _Sessions(owner)


class _Sessions(dict[str, Any]):
    """tftpy stores each new session context here before starting it: take it over, and keep
    the number of sessions bounded (half-open ones make way; see the module docstring)."""

    def __init__(self, owner: TftpServer) -> None:
        super().__init__()
        self.owner = owner

    def __setitem__(self, key: str, context: Any) -> None:
        now = time.monotonic()
        self._drop_half_open(lambda ctx: now - ctx.opened > self.owner.handshake_timeout)
        if len(self) >= self.owner.max_sessions:
            self._drop_half_open(lambda ctx: True, limit=1)
        context.flock = False
        context.opened = now
        context.answered = False
        context.busy = len(self) >= self.owner.max_sessions
        context.state = _Start(context, self.owner)
        context.start = _guarded(context.start)
        context.cycle = _answered(context, _guarded(context.cycle))
        super().__setitem__(key, context)

    def _drop_half_open(self, expired: Callable[[Any], bool], limit: int | None = None) -> None:
        """End sessions whose client never answered (oldest first) that `expired` picks."""
        waiting = sorted(
            (ctx.opened, key) for key, ctx in self.items() if not getattr(ctx, "answered", True)
        )
        for _, key in waiting[:limit]:
            ctx = self[key]
            if not expired(ctx):
                continue
            if isinstance(ctx.fileobj, _Counted):
                ctx.fileobj.reason = "dropped: the client never answered"
            ctx.end()
            super().__delitem__(key)


def _answered(context: Any, cycle: Callable[..., None]) -> Callable[..., None]:
    """A packet from the client on the session's socket: the session is no longer half-open."""

    def call(*args: Any) -> None:
        context.answered = True
        cycle(*args)

    return call


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Malformed packets (bad encoding, truncated) end one session, never the server."""

    def call(*args: Any) -> None:
        try:
            method(*args)
        except TftpException:
            raise
        except Exception as exc:
            raise TftpException(f"malformed packet: {exc!r}") from exc

    return call


class _Start(TftpState):  # type: ignore[misc]
    """The first packet of a session: a read request is served, anything else refused."""

    def __init__(self, context: Any, owner: TftpServer) -> None:
        super().__init__(context)
        self.owner = owner

    def handle(self, pkt: Any, raddress: str, rport: int) -> Any:
        ctx = self.context
        ctx.tidport = rport
        client = f"{raddress}:{rport}"
        if isinstance(pkt, TftpPacketWRQ):
            self.owner.record(Fetch(time.time(), client, pkt.filename, Outcome.WRITE_REFUSED))
            self.sendError(TftpErrors.AccessViolation)
            raise TftpException("write request refused (read-only server)")
        if not isinstance(pkt, TftpPacketRRQ):
            if not isinstance(pkt, TftpPacketERR):
                self.sendError(TftpErrors.IllegalTftpOp)
            raise TftpException(f"unexpected first packet: {pkt}")
        if ctx.busy:
            self.owner.record(Fetch(time.time(), client, pkt.filename, Outcome.BUSY))
            ctx.sock.sendto(BUSY, (ctx.host, rport))
            raise TftpException("server busy: every session is taken")
        try:
            fileobj, size = self.owner.open(pkt.filename, raddress)
        except PathRefused as exc:
            self.owner.record(
                Fetch(time.time(), client, pkt.filename, Outcome.REFUSED, 0, 0, exc.reason)
            )
            self.sendError(TftpErrors.AccessViolation)
            raise TftpException(f"refused: {exc}") from exc
        except FileNotFoundError as exc:
            self.owner.record(Fetch(time.time(), client, pkt.filename, Outcome.NOT_FOUND))
            self.sendError(TftpErrors.FileNotFound)
            raise TftpException(f"not found: {pkt.filename}") from exc
        ctx.file_to_transfer = pkt.filename
        ctx.fileobj = _Counted(fileobj, size, self.owner, client, pkt.filename)
        # Only options we accept go in the OACK (RFC 2347); none accepted: data at once.
        ctx.options = self.returnSupportedOptions(pkt.options or {})
        if "blksize" in ctx.options:  # tftpy allows 65536, more than a datagram carries
            ctx.options["blksize"] = str(min(int(ctx.options["blksize"]), MAX_BLKSIZE))
        if "tsize" in ctx.options:
            ctx.options["tsize"] = str(size)
        if ctx.options:
            self.sendOACK()  # the client's ACK of block 0 starts the data
        else:
            ctx.next_block = 1
            ctx.pending_complete = self.sendDAT()
        return TftpStateExpectACK(ctx)


class _Counted:
    """The file being sent; counts bytes and records the fetch when tftpy closes it."""

    def __init__(
        self, inner: BinaryIO, size: int, owner: TftpServer, client: str, path: str
    ) -> None:
        self.inner = inner
        self.size = size
        self.owner = owner
        self.client = client
        self.path = path
        self.sent = 0
        self.name = path
        self.reason = ""

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.sent += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def close(self) -> None:
        if self.inner.closed:
            return
        self.inner.close()
        outcome = Outcome.SENT if self.sent >= self.size else Outcome.INCOMPLETE
        fetch = Fetch(time.time(), self.client, self.path, outcome, self.size, self.sent)
        self.owner.record(dataclasses.replace(fetch, reason=self.reason))
