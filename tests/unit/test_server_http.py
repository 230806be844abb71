"""The HTTP server's choices that can be checked without a socket."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from provision.server.http import QueueDepthFilter, available
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
