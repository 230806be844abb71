"""The pure ETA and progress predictions."""

from __future__ import annotations

import pytest

from provision.server.eta import (
    Job,
    build_durations,
    build_fraction,
    expected_duration,
    fraction,
    pass_start,
    queue_etas,
    remaining,
)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([], 42.0, id="no-history-default"),
        pytest.param([10.0], 10.0, id="one"),
        pytest.param([10.0, 30.0], 20.0, id="even-median"),
        pytest.param([10.0, 12.0, 900.0], 12.0, id="outlier-ignored"),
        pytest.param([0.0, -5.0], 42.0, id="nonpositive-ignored"),
        pytest.param([1000.0] * 5 + [10.0] * 10, 10.0, id="only-last-ten"),
    ],
)
def test_expected_duration(history: list[float], expected: float) -> None:
    assert expected_duration(history, 42.0) == expected


def test_remaining_and_fraction() -> None:
    assert remaining(100.0, None, 50.0) == 100.0
    assert remaining(100.0, 0.0, 30.0) == 70.0
    assert remaining(100.0, 0.0, 500.0) == 10.0  # late: 10% more, never zero
    assert fraction(100.0, None, 10.0) == 0.0
    assert fraction(100.0, 0.0, 25.0) == 0.25
    assert fraction(100.0, 0.0, 1e6) == 0.99


def test_queue_etas_one_worker() -> None:
    jobs = [Job(1, "iso", started=90.0), Job(2, "tarball", None), Job(3, "iso", None)]
    history = {"iso": [60.0, 60.0, 60.0], "tarball": [10.0]}
    etas = queue_etas(jobs, history, now=100.0)
    assert etas == {1: 50.0, 2: 60.0, 3: 120.0}


def test_queue_etas_two_workers_and_defaults() -> None:
    jobs = [Job(1, "iso", None), Job(2, "iso", None), Job(3, "tarball", None)]
    etas = queue_etas(jobs, {"iso": [100.0]}, now=0.0, workers=2)
    # two isos run side by side; the tarball (default 30 s) waits for the first free worker
    assert etas == {1: 100.0, 2: 100.0, 3: 130.0}


def test_running_jobs_are_served_before_waiting_ones() -> None:
    jobs = [Job(5, "tarball", None), Job(4, "tarball", started=0.0)]
    assert queue_etas(jobs, {"tarball": [20.0]}, now=5.0) == {4: 15.0, 5: 35.0}


def test_pass_start_and_durations() -> None:
    assert pass_start("20240102T030405Z-abc123") == 1704164645.0
    assert pass_start("not-a-pass") is None
    passes = [
        ("20240102T030405Z-bbbbbb", 1704164645.0 + 300),
        ("20240101T000000Z-aaaaaa", 1704067200.0 + 100),
        ("junk", 5.0),
        ("20240103T000000Z-cccccc", 0.0),  # mtime before start: ignored
    ]
    assert build_durations(passes) == [100.0, 300.0]


@pytest.mark.parametrize(
    ("phase", "elapsed", "expected"),
    [
        pytest.param("idle", 50.0, 0.0, id="idle"),
        pytest.param("published", 0.0, 1.0, id="published"),
        pytest.param("syncing", 50.0, 0.1, id="syncing-capped"),
        pytest.param("building", 0.0, 0.1, id="building-floor"),
        pytest.param("building", 50.0, 0.5, id="building-by-time"),
        pytest.param("publishing", 10.0, 0.9, id="publishing-floor"),
        pytest.param("held", 50.0, 0.0, id="held"),
    ],
)
def test_build_fraction(phase: str, elapsed: float, expected: float) -> None:
    assert build_fraction(phase, 0.0, elapsed, 100.0) == pytest.approx(expected)
