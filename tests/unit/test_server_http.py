"""The HTTP server's choices that can be checked without a socket."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from provision.server.http import QueueDepthFilter, _lean_runner, available
from tests.webapp import login


def record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, msg, None, None)


def test_queue_depth_warnings_are_rate_limited() -> None:
    now = [0.0]
    f = QueueDepthFilter(every=60, clock=lambda: now[0])
    assert f.filter(record("Task queue depth is 1"))
    assert not any(f.filter(record(f"Task queue depth is {n}")) for n in range(2, 500))
    assert f.filter(record("something else"))  # other warnings pass
    now[0] = 61.0
    later = record("Task queue depth is 7")
    assert f.filter(later)
    assert later.getMessage() == "Task queue depth is 7 (498 more since the last one)"


def test_granian_is_the_server() -> None:
    assert available() == "granian"


def test_body_cap_refuses_before_the_app() -> None:
    import io

    from provision.server.http import BodyCap

    seen: list[bytes] = []

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        stream = environ["wsgi.input"]
        assert isinstance(stream, io.BytesIO) or hasattr(stream, "read")
        seen.append(stream.read())
        return [b"ok"]

    statuses: list[str] = []
    cap = BodyCap(app, 10)

    def call(**env: object) -> list[bytes]:
        return list(cap(dict(env), lambda status, headers: statuses.append(status)))

    assert call(CONTENT_LENGTH="11", **{"wsgi.input": io.BytesIO(b"x" * 11)}) != [b"ok"]
    assert call(CONTENT_LENGTH="1e3", **{"wsgi.input": io.BytesIO()}) != [b"ok"]
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked"}
    assert call(**chunked, **{"wsgi.input": io.BytesIO(b"y" * 11)}) != [b"ok"]
    assert statuses == ["413 Request Entity Too Large"] * 3 and seen == []
    assert call(**chunked, **{"wsgi.input": io.BytesIO(b"y" * 10)}) == [b"ok"]
    assert call(CONTENT_LENGTH="3", **{"wsgi.input": io.BytesIO(b"abc")}) == [b"ok"]
    assert seen == [b"y" * 10, b"abc"]


def test_no_cookie_signer_for_a_request_without_a_cookie(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = SecureCookieSessionInterface.get_signing_serializer

    def spy(self: SecureCookieSessionInterface, flask_app: Flask) -> object:
        built.append("signer")
        return real(self, flask_app)

    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer", spy)
    bearer = app.test_client()
    assert bearer.get("/api/v1/hosts", headers={"Authorization": "Bearer x"}).status_code == 401
    assert built == []
    browser = app.test_client()
    login(browser)  # the session cookie still works: signed, read back, checked
    assert browser.get("/api/v1/hosts").status_code == 200 and built


class Proto:
    """The part of granian's per-request protocol object a WSGI answer uses."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[str, str]], object]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))

    def response_iter(self, status: int, headers: list[tuple[str, str]], body: Any) -> None:
        chunks = []
        while True:  # as granian's Rust side does: __next__ until StopIteration, then close
            try:
                chunks.append(body.__next__())
            except StopIteration:
                break
        body.close()
        self.sent.append((status, headers, chunks))


class Closing:
    """A streamed WSGI body that notes being closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def test_granian_glue_passes_the_request_not_the_os_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROVISION_SECRET_IN_ENV", "x")
    seen: list[dict[str, object]] = []

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(environ)
        start_response("201 Created", [("X-A", "b")])
        return [b"he", b"llo"]

    body = Closing([b"a", b"b"])

    def streamed(environ: dict[str, object], start_response: Callable[..., object]) -> Closing:
        start_response("200 OK", [])
        return body

    proto = Proto()
    scope = {"PATH_INFO": "/x", "REQUEST_METHOD": "GET", "wsgi.url_scheme": "http"}
    assert _lean_runner(app, {})(proto, scope) == 201
    assert proto.sent == [(201, [("X-A", "b")], b"hello")]
    env = seen[0]
    assert env["PATH_INFO"] == "/x" and env["wsgi.version"] == (1, 0) and env["SCRIPT_NAME"] == ""
    assert "PROVISION_SECRET_IN_ENV" not in env and "PATH" not in env
    assert _lean_runner(streamed, {})(proto, scope) == 200 and proto.sent[1] == (
        200,
        [],
        [b"a", b"b"],
    )
