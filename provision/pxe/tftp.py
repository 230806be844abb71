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

import contextlib
import ctypes
import dataclasses
import io
import logging
import os
import resource
import select
import signal
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
from tftpy.TftpPacketTypes import (
    TftpPacketACK,
    TftpPacketDAT,
    TftpPacketERR,
    TftpPacketRRQ,
    TftpPacketWRQ,
)
from tftpy.TftpShared import (
    MAX_BLKSIZE as TFTPY_MAX_DATAGRAM,
)
from tftpy.TftpShared import (
    TftpErrors,
    TftpException,
    TftpTimeout,
    TftpTimeoutExpectACK,
)
from tftpy.TftpStates import TftpState, TftpStateExpectACK

from provision.errors import ConfigError, ProvisionError
from provision.pxe.paths import PathRefused, clean_path, resolve_in_root

log = logging.getLogger("provision.tftp")

MAX_BLKSIZE = 65464  # RFC 2348's largest: one block + headers fits a UDP datagram
MAX_SESSIONS = 128  # transfers at once (see session_limit)
MAX_WINDOW = 64  # RFC 7440 windowsize acknowledged at most (UEFI asks for 4..64)
READ_BUFFER = 64 * 1024  # a file is read ahead this much (one read per ~44 blocks of 1468)
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
        reuse_port: bool = False,
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
        self._server.reuse_port = reuse_port
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
        return os.fdopen(fd, "rb", buffering=READ_BUFFER), info.st_size

    def record(self, fetch: Fetch) -> None:
        log.info("%s", fetch.line())
        if self.on_fetch is not None:
            self.on_fetch(fetch)


def serve_processes(
    make: Callable[[bool], TftpServer],
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[tuple[str, int]], None] = lambda address: None,
) -> None:
    """Serve from `workers` processes sharing host:port (SO_REUSEPORT: the kernel spreads new
    requests over them; a session stays in the process that took its request), until stopped.
    tftpy is the protocol implementation in each; one process keeps one core busy at most.
    Call it before any thread starts (it forks); `make(reuse_port)` builds each one's server
    (bounds such as max_sessions are per process).  Workers end with this process."""
    if workers <= 1:
        server = make(False)
        on_ready(server.start(host, port))
        server.wait()
        return
    holder = _udp_socket(host, port, reuse_port=True)  # resolves port 0 and holds the port
    port = holder.getsockname()[1]
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker
            code = 0
            try:
                holder.close()
                _die_with_parent()
                make(True).serve_forever(host, port)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        server = make(True)
        address = server.start(host, port)
        holder.close()
        on_ready(address)
        server.wait()
    finally:
        holder.close()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _die_with_parent() -> None:
    """Linux: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG), so no worker outlives
    the server; elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


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
    """tftpy's server whose sessions start in our state (see _Sessions), with our own receive
    loop: tftpy's rebuilds the list of sockets, select()s on all of them, finds a packet's
    session by a linear search and checks every session's timer after each packet, so the
    cost of a packet grew with the number of transfers.  Ours keeps the sockets in epoll,
    finds the session by its socket and checks timers every TICK seconds; each packet still
    goes through tftpy's session (cycle: parse, state machine, send), as before."""

    TICK = 0.1  # seconds between timer checks (retransmits are due after `timeout` seconds)
    BUFFER = 4 * 1024 * 1024  # socket buffers: a burst of requests, a window of blocks
    shutdown_immediately: bool  # tftpy's stop() flags
    shutdown_gracefully: bool
    reuse_port = False  # share the port with other processes (serve_processes)

    def __init__(self, owner: TftpServer) -> None:
        super().__init__(str(owner.root))
        self.sessions = _Sessions(owner)

    def listen(
        self,
        listenip: str = "",
        listenport: int = 69,
        timeout: float = 5.0,
        retries: int = 5,
    ) -> None:
        self.sock = _udp_socket(listenip or "0.0.0.0", listenport, self.BUFFER, self.reuse_port)
        _, self.listenport = self.sock.getsockname()
        ep = select.epoll()
        main_fd = self.sock.fileno()
        ep.register(main_fd, select.EPOLLIN)
        registered: dict[str, tuple[Any, int]] = {}  # session key -> (socket, fd) registered
        by_fd: dict[int, str] = {}
        self.is_running.set()
        next_tick = time.monotonic() + self.TICK
        try:
            while not self.shutdown_immediately:
                if self.shutdown_gracefully and not self.sessions:
                    break
                done: list[str] = []
                new = False
                for fd, _ in ep.poll(max(0.0, next_tick - time.monotonic())):
                    if fd == main_fd:
                        new = self._request(timeout, retries, done) or new
                    elif fd in by_fd:
                        self._packet(by_fd[fd], done)
                if time.monotonic() >= next_tick:
                    self._timers(done)
                    next_tick = time.monotonic() + self.TICK
                for skey in done:
                    ctx = self.sessions.pop(skey, None)
                    if ctx is not None:
                        ctx.end()
                if new or done:
                    _sync(ep, registered, by_fd, self.sessions)
        finally:
            for ctx in list(self.sessions.values()):
                ctx.end()
            self.sessions.clear()
            ep.close()
            self.sock.close()
            self.is_running.clear()
            self.shutdown_gracefully = self.shutdown_immediately = False

    def _request(self, timeout: float, retries: int, done: list[str]) -> bool:
        """A packet on the server's port: a new session (tftpy's context, our start state);
        True when one was made."""
        try:
            buffer, (raddress, rport) = self.sock.recvfrom(TFTPY_MAX_DATAGRAM)
        except BlockingIOError:
            return False
        if self.shutdown_gracefully:
            return False
        skey = f"{raddress}:{rport}"
        if skey in self.sessions:
            return False  # a retransmitted request of a session that runs: its socket answers
        self.sessions[skey] = ctx = tftpy.TftpContexts.TftpContextServer(
            raddress, rport, timeout, self.root, self.dyn_file_func, self.upload_open,
            retries=retries,
        )  # fmt: skip
        try:
            ctx.start(buffer)
        except TftpTimeoutExpectACK:
            ctx.timeout_expectACK = True
        except TftpException as exc:
            log.debug("tftp session %s: %s", skey, exc)
            done.append(skey)
        return True

    def _packet(self, skey: str, done: list[str]) -> None:
        ctx = self.sessions.get(skey)
        if ctx is None:
            return
        ctx.timeout_expectACK = False
        try:
            ctx.cycle()
            if ctx.state is None:
                done.append(skey)
        except TftpTimeoutExpectACK:
            ctx.timeout_expectACK = True
        except TftpException as exc:
            log.debug("tftp session %s: %s", skey, exc)
            done.append(skey)

    def _timers(self, done: list[str]) -> None:
        """tftpy's timeouts: resend the last packet, give up after `retries`."""
        now = time.time()
        for skey, ctx in self.sessions.items():
            try:
                ctx.checkTimeout(now)
            except TftpTimeout:
                ctx.retry_count += 1
                if ctx.retry_count >= ctx.retries:
                    done.append(skey)
                else:
                    ctx.state.resendLast()


def _udp_socket(host: str, port: int, buffer: int = 0, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF) if buffer else ():
        sock.setsockopt(socket.SOL_SOCKET, option, buffer)  # capped by net.core.*mem_max
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _sync(
    ep: select.epoll,
    registered: dict[str, tuple[Any, int]],
    by_fd: dict[int, str],
    sessions: dict[str, Any],
) -> None:
    """Register new sessions' sockets, forget ended ones (also those _Sessions dropped); by
    descriptor number, as an ended session's socket is closed already (and epoll forgot it)."""
    for skey, (sock, fd) in list(registered.items()):
        ctx = sessions.get(skey)
        if ctx is None or ctx.sock is not sock:
            del registered[skey]
            by_fd.pop(fd, None)
            with contextlib.suppress(OSError):
                ep.unregister(fd)
    for skey, ctx in sessions.items():
        fd = ctx.sock.fileno()
        if skey not in registered and fd >= 0:
            ep.register(fd, select.EPOLLIN)
            registered[skey] = (ctx.sock, fd)
            by_fd[fd] = skey


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
        context.cycle = _cycle(context)
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


ACK = 4
DATA_HEADER = struct.Struct("!HH")


def _cycle(ctx: Any) -> Callable[[], None]:
    """tftpy's cycle() for one of our sessions, with the one step a transfer repeats thousands
    of times done inline: the expected ACK, from the session's own client, of the block just
    sent, answered with the next DATA block (or the end of the transfer), exactly as tftpy's
    ExpectACK state does.  Any other packet (options, errors, duplicates, a stranger) goes
    through tftpy's parser and state machine; timeouts and resends stay tftpy's (see
    _Tftpy._timers).  A packet from the client ends the session's half-open time; malformed
    ones end the session (TftpException), never the server."""
    unpack = DATA_HEADER.unpack
    sock = ctx.sock

    def cycle() -> None:
        ctx.answered = True
        try:
            buffer, (raddress, rport) = sock.recvfrom(TFTPY_MAX_DATAGRAM)
        except BlockingIOError:
            return
        ctx.last_update = now = time.time()
        try:
            if len(buffer) == 4 and raddress == ctx.address and rport == ctx.tidport:
                opcode, number = unpack(buffer)
                state = ctx.state
                if opcode == ACK and type(state) is _Window:
                    ctx.retry_count = 0
                    if state.ack(number):
                        ctx.state = None
                    return
            if (
                len(buffer) == 4
                and unpack(buffer) == (ACK, ctx.next_block)
                and type(ctx.state) is TftpStateExpectACK
                and raddress == ctx.address
                and rport == ctx.tidport
            ):
                ctx.retry_count = 0
                if ctx.pending_complete:
                    ctx.state = None  # the ACK of the last block: done
                    return
                ctx.next_block += 1
                ctx.pending_complete = _send_block(ctx, now)
                return
            _slow(ctx, buffer, raddress, rport)
        except TftpException:
            raise
        except Exception as exc:
            raise TftpException(f"malformed packet: {exc!r}") from exc

    return cycle


def _slow(ctx: Any, buffer: bytes, raddress: str, rport: int) -> None:
    """What tftpy's cycle() does with a packet already received."""
    packet = ctx.factory.parse(buffer)
    if raddress != ctx.address or (ctx.tidport and ctx.tidport != rport):
        log.debug("tftp: a packet from %s:%s for another session", raddress, rport)
    ctx.state = ctx.state.handle(packet, raddress, rport)
    ctx.retry_count = 0


def _send_block(ctx: Any, now: float) -> bool:
    """tftpy's sendDAT without its per-packet logging: the next block; True if it is the
    last (shorter than blksize)."""
    blksize = int(ctx.options.get("blksize", 512))
    data = ctx.fileobj.read(blksize)
    dat = TftpPacketDAT.__new__(TftpPacketDAT)  # tftpy's packet, without its __init__ chain
    dat.opcode = 3
    dat.blocknumber = ctx.next_block
    dat.data = data
    dat.buffer = DATA_HEADER.pack(3, dat.blocknumber) + data
    ctx.metrics.bytes += len(data)
    ctx.sock.send(dat.buffer)
    ctx.metrics.last_dat_time = now
    ctx.last_pkt = dat
    return bool(len(data) < blksize)


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
        # The session's socket talks to this client only: the kernel drops anyone else's
        # packets, and a send needs no address lookup (the cost of a block on loopback).
        ctx.sock.connect((raddress, rport))
        # Only options we accept go in the OACK (RFC 2347); none accepted: data at once.
        ctx.options = self.returnSupportedOptions(pkt.options or {})
        if "blksize" in ctx.options:  # tftpy allows 65536, more than a datagram carries
            ctx.options["blksize"] = str(min(int(ctx.options["blksize"]), MAX_BLKSIZE))
        if "tsize" in ctx.options:
            ctx.options["tsize"] = str(size)
        window = _window_option((pkt.options or {}).get("windowsize"))
        if window > 1:
            ctx.options["windowsize"] = str(window)
        if ctx.options:
            self.sendOACK()  # the client's ACK of block 0 starts the data
        else:
            ctx.next_block = 1
            ctx.pending_complete = self.sendDAT()
        if window > 1:
            return _Window(ctx, window, size, int(ctx.options.get("blksize", 512)))
        return TftpStateExpectACK(ctx)


def _window_option(value: object) -> int:
    """The windowsize we acknowledge for a requested one (RFC 7440): at most MAX_WINDOW;
    1 (no window) for anything unreadable."""
    try:
        wanted = int(str(value))
    except ValueError:
        return 1
    return max(1, min(wanted, MAX_WINDOW))


class _Window(TftpStateExpectACK):  # type: ignore[misc]
    """RFC 7440 windowsize: after the ACK of block n, blocks n+1 .. n+window go out at once;
    the client ACKs the last block of a window (or the last one it got in order, after a
    loss: the next window starts after it).  A timeout resends the window after the last ACK.
    Block numbers are counted in full here and wrap at 65536 on the wire."""

    def __init__(self, context: Any, window: int, size: int, blksize: int) -> None:
        super().__init__(context)
        self.window = window
        self.blksize = blksize
        self.last = size // blksize + 1  # the short (maybe empty) block that ends the file
        self.acked = 0
        self.sent = 0

    def ack(self, number: int) -> bool:
        """The client ACKed block `number` (16 bits); True when the transfer is complete."""
        block = self.acked + ((number - self.acked) & 0xFFFF)
        if self.sent and (block > self.sent or block == self.acked):
            return False  # a block not sent, or no progress (a late copy): the timer resends
        self.acked = max(self.acked, block)
        if self.acked >= self.last:
            return True
        self.send_window()
        return False

    def send_window(self) -> None:
        ctx = self.context
        upto = min(self.acked + self.window, self.last)
        for block in range(self.acked + 1, upto + 1):
            data = ctx.fileobj.pread((block - 1) * self.blksize, self.blksize)
            ctx.sock.send(DATA_HEADER.pack(3, block & 0xFFFF) + data)
            ctx.metrics.bytes += len(data)
        self.sent = max(self.sent, upto)
        ctx.metrics.last_dat_time = time.time()

    def handle(self, pkt: Any, raddress: str, rport: int) -> Any:
        if isinstance(pkt, TftpPacketACK):
            return None if self.ack(pkt.blocknumber) else self
        return super().handle(pkt, raddress, rport)  # errors and the rest: tftpy's answer

    def resendLast(self) -> None:
        self.context.metrics.resent_bytes += self.blksize
        self.send_window()


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

    def pread(self, offset: int, n: int) -> bytes:
        """n bytes at offset (a window may send a block again): counts the furthest byte."""
        self.inner.seek(offset)
        data = self.inner.read(n)
        self.sent = max(self.sent, offset + len(data))
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
