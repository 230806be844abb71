"""The HTTP server under `provision serve`: granian, in this process, on a socket we bound.

Why granian and not waitress (measured on the 2-core machines here, issue 20): waitress parses
HTTP and runs its event loop in Python; with 100 connections a minimal Flask app on it answers
~4,300 req/s with a p99 of ~340 ms, and even a bare WSGI callable sending a 20 KB file stops
near 8,700 req/s: a tenth of nginx.  gunicorn's gthread workers parse in Python too.  granian
does HTTP/1.1, keep-alive and socket I/O in Rust (hyper on tokio) and calls the same WSGI app
from a pool of Python threads: the minimal Flask app answers ~10,000 req/s with a p99 under
100 ms, and snapshot files (provision.server.static) reach a third of nginx.

How it is embedded: granian's thread-worker server (`MTServer`, made for free-threaded
Python) runs one worker in this process, so the app, the order worker, TFTP and the builder
loop share one process as before.  Two of its hooks are replaced: the GIL check (one worker
thread under the GIL is the ordinary case of one worker process) and the listening socket
(ours, bound before the app starts, so that port 0 works and the port is known).  Signals:
granian's handlers stop it on SIGINT/SIGTERM and `serve()` returns.

Bounds: request heads must arrive within HEADER_TIMEOUT_MS and fit MAX_HEAD_BYTES; a body over
the cap gets 413 before the app runs (BodyCap; Flask's MAX_CONTENT_LENGTH stays behind it); at
most BACKPRESSURE requests are in the app at once, more connections wait in the backlog.

Without granian (no wheel for the platform), waitress serves instead, its "Task queue depth"
warning rate-limited (one line per minute, with the count of the ones left out).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("provision.http")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
BACKLOG = 1024
BACKPRESSURE = 1024
RUNTIME_THREADS = 1  # Rust I/O threads; the app's Python threads are `threads`
HEADER_TIMEOUT_MS = 30_000
MAX_HEAD_BYTES = 64 * 1024


def available() -> str:
    """The server `serve` will use: "granian" when importable, else "waitress"."""
    try:
        import granian  # noqa: F401
    except ImportError:
        return "waitress"
    return "granian"


def serve(
    app: WSGIApp, sock: socket.socket, threads: int, *, max_body: int, proxied: bool = False
) -> None:
    """Serve `app` on the listening socket `sock` until SIGINT/SIGTERM; returns then.
    max_body: the request body cap (the app enforces it too: Flask's MAX_CONTENT_LENGTH);
    proxied: trusted proxies are configured (the app's TrustedProxy decides about forwarding
    headers; granian passes them on, waitress drops them unless told otherwise)."""
    if available() == "granian":
        _granian(BodyCap(app, max_body), sock, threads)
    else:
        _waitress(app, sock, threads, max_body, proxied)


def _granian(app: WSGIApp, sock: socket.socket, threads: int) -> None:
    from granian._granian import SocketHolder
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import mt
    from granian.server.mt import MTServer

    glue: Any = mt
    glue._wsgi_call_wrap = _lean_runner  # see _lean_runner: granian's copied os.environ per request

    holder: Any = SocketHolder  # Linux: (fd, uds, backlog); the stub knows another platform's

    class InProcess(MTServer):
        def _check_gil(self) -> None:
            pass  # one worker thread under the GIL: like one worker process

        def _init_shared_socket(self) -> None:
            fd = os.dup(sock.fileno())  # granian closes the descriptor it is given
            self._ssp = None
            self._shd = holder(fd, False, BACKLOG)
            self._sfd: Any = fd

    host, port = sock.getsockname()[:2]
    server = InProcess(
        "provision.server.app:create_app",  # a label only: the loader below gives the app
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        runtime_threads=RUNTIME_THREADS,
        blocking_threads=threads,
        backlog=BACKLOG,
        backpressure=BACKPRESSURE,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEADER_TIMEOUT_MS, max_buffer_size=MAX_HEAD_BYTES
        ),
        websockets=False,
        log_level=LogLevels.error,
    )
    server.serve(target_loader=lambda *_: app, wrap_loader=False)


def _lean_runner(
    callback: WSGIApp, scope_opts: dict[str, Any], access_log_fmt: str | None = None
) -> Callable[[Any, dict[str, Any]], int]:
    """What granian's WSGI glue (granian.wsgi._callback_wrapper, 2.8) does per request, without
    merging the whole OS environment into every request's environ: PEP 3333 does not ask for
    it, nothing here reads it, and for a small snapshot file it was a fifth of the Python time
    of an answer (issue 20).  No access log and no URL prefix: serve asks granian for neither."""
    from granian import wsgi

    response: Any = wsgi.Response  # untyped in granian
    wrap: Any = wsgi.ResponseIterWrap
    base = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SCRIPT_NAME": "",
        "SERVER_SOFTWARE": "Granian",
        "wsgi.errors": sys.stderr,
        "wsgi.input_terminated": True,
        "wsgi.multiprocess": False,
        "wsgi.multithread": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }

    def runner(proto: Any, scope: dict[str, Any]) -> int:
        resp = response()
        body = callback(base | scope, resp)
        if isinstance(body, list):
            proto.response_bytes(resp.status, resp.headers, b"".join(body))
        else:
            proto.response_iter(resp.status, resp.headers, wrap(body))
        return int(resp.status)

    return runner


class BodyCap:
    """What waitress' max_request_body_size did, for servers without one: a request whose
    body is over `limit` bytes gets 413 before the app runs.  A declared Content-Length is
    judged at once; a chunked body is read up to limit + 1 bytes (at most the cap in memory),
    then handed to the app with its length known."""

    def __init__(self, app: WSGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            if not length.isdigit() or int(length) > self.limit:
                return _too_large(start_response)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(self.limit + 1)
            if len(body) > self.limit:
                return _too_large(start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _too_large(start_response: Callable[..., Any]) -> list[bytes]:
    body = b"Request Entity Too Large\n"
    start_response(
        "413 Request Entity Too Large",
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]


class QueueDepthFilter(logging.Filter):
    """Lets one waitress "Task queue depth" warning through per `every` seconds and says how
    many were left out; a fleet booting at once made 34,841 of them in one run."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self.last = float("-inf")
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Task queue depth"):
            return True
        now = self.clock()
        if now - self.last < self.every:
            self.dropped += 1
            return False
        if self.dropped:
            record.msg = f"{record.getMessage()} ({self.dropped} more since the last one)"
            record.args = ()
        self.last, self.dropped = now, 0
        return True


def _waitress(
    app: WSGIApp, sock: socket.socket, threads: int, max_body: int, proxied: bool
) -> None:
    import signal

    import waitress

    logging.getLogger("waitress.queue").addFilter(QueueDepthFilter())
    server = waitress.create_server(
        app,
        sockets=[sock],
        threads=threads,
        connection_limit=1000,  # waitress' default of 100 stalls a fleet booting at once
        ident="provision",
        clear_untrusted_proxy_headers=not proxied,
        max_request_body_size=max_body,  # refused with 413 before the app runs
    )

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        server.run()  # returns on Ctrl-C (waitress handles KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
