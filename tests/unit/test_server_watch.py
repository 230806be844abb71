"""The directory watcher (inotify): generations advance on changes, end with the directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from provision.server.watch import EVENT, IN_Q_OVERFLOW, Watcher, watcher


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not check():
        assert time.monotonic() < deadline, "no event within 2 s"
        time.sleep(0.001)


def the_watcher() -> Watcher:
    w = watcher()
    assert w is not None  # Linux: inotify is there
    assert watcher() is w  # one for the process
    return w


def test_a_change_advances_the_generation(tmp_path: Path) -> None:
    w = the_watcher()
    d = str(tmp_path)
    first = w.watch(d)
    assert first is not None and w.watch(d) == first == w.generation(d)
    (tmp_path / "current").symlink_to("x")
    eventually(lambda: w.generation(d) != first)
    later = w.generation(d)
    assert later is not None and later > first
    assert w.watch(d) == later


def test_the_generation_ends_with_the_directory(tmp_path: Path) -> None:
    w = the_watcher()
    d = tmp_path / "gone"
    d.mkdir()
    assert w.watch(str(d)) is not None
    d.rmdir()
    eventually(lambda: w.generation(str(d)) is None)
    assert w.watch(str(d)) is None  # missing: not watched, the caller reads every time
    assert w.watch(str(tmp_path / "nosuch")) is None
    (tmp_path / "file").write_text("x")
    assert w.watch(str(tmp_path / "file")) is None  # only directories


def test_lost_events_forget_every_directory(tmp_path: Path) -> None:
    w = the_watcher()
    assert w.watch(str(tmp_path)) is not None
    w.handle(EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0))
    assert w.generation(str(tmp_path)) is None
    assert w.watch(str(tmp_path)) is not None  # watched anew
