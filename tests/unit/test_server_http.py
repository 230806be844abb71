"""The HTTP server's choices that can be checked without a socket."""

from __future__ import annotations

import logging

from provision.server.http import QueueDepthFilter, available


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
