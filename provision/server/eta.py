"""Pure predictions for progress bars: how long a build pass or an image order will take.

Durations of past jobs of the same kind are the only input; no clock is read here (callers
pass `now`), so every function is a plain value-in, value-out computation.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_BUILD = 600.0  # seconds assumed for a build pass with no history
DEFAULT_IMAGE = {"iso": 120.0, "tarball": 30.0}
HISTORY = 10  # the last N durations count

_PASS_ID = re.compile(r"^(\d{8}T\d{6}Z)-")


def expected_duration(history: Sequence[float], default: float) -> float:
    """The median of the last HISTORY positive durations (oldest first), or the default.

    The median shrugs off one pathological run (a cold cache, a stuck mirror).
    """
    recent = sorted(d for d in list(history)[-HISTORY:] if d > 0)
    if not recent:
        return default
    mid = len(recent) // 2
    if len(recent) % 2:
        return recent[mid]
    return (recent[mid - 1] + recent[mid]) / 2


def remaining(expected: float, started: float | None, now: float) -> float:
    """Seconds left for a job expected to take `expected`; a running late job gets 10% more."""
    if started is None:
        return expected
    elapsed = max(0.0, now - started)
    if elapsed < expected:
        return expected - elapsed
    return max(1.0, 0.1 * expected)


def fraction(expected: float, started: float | None, now: float) -> float:
    """Progress 0..0.99 of a running job (never 1: only the job itself says it is done)."""
    if started is None or expected <= 0:
        return 0.0
    return min(0.99, max(0.0, (now - started) / expected))


@dataclass(frozen=True)
class Job:
    """One entry of a queue, in queue order: the running job(s) first, then the waiting ones."""

    id: int
    kind: str
    started: float | None  # None while queued


def queue_etas(
    jobs: Sequence[Job], history: Mapping[str, Sequence[float]], now: float, *, workers: int = 1
) -> dict[int, float]:
    """Seconds until each job is done, for a queue served by `workers` parallel workers.

    Running jobs finish after their remaining time; each waiting job starts when the earliest
    worker frees up (list scheduling, in queue order).
    """
    free = [0.0] * max(1, workers)
    out: dict[int, float] = {}
    running = [j for j in jobs if j.started is not None]
    waiting = [j for j in jobs if j.started is None]
    for job in running + waiting:
        expected = expected_duration(history.get(job.kind, ()), DEFAULT_IMAGE.get(job.kind, 60.0))
        slot = min(range(len(free)), key=lambda i: free[i])
        done = free[slot] + remaining(expected, job.started, now)
        free[slot] = done
        out[job.id] = done
    return out


def pass_start(pass_id: str) -> float | None:
    """When a build pass started, from its id (UTC stamp + suffix); None if not such an id."""
    m = _PASS_ID.match(pass_id)
    if not m:
        return None
    return float(calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%SZ")))


def build_durations(passes: Sequence[tuple[str, float]]) -> list[float]:
    """Durations of finished passes from (pass id, log mtime) pairs, oldest first."""
    out: list[tuple[float, float]] = []
    for pass_id, end in passes:
        start = pass_start(pass_id)
        if start is not None and end >= start:
            out.append((start, end - start))
    return [d for _, d in sorted(out)]


# Share of a pass each builder phase stands for (building takes the bulk).
_PHASE_SPAN = {
    "idle": (0.0, 0.0),
    "syncing": (0.0, 0.1),
    "building": (0.1, 0.9),
    "publishing": (0.9, 0.99),
    "published": (1.0, 1.0),
    "held": (0.0, 0.0),
}


def build_fraction(phase: str, started: float | None, now: float, expected: float) -> float:
    """Progress of a build pass for its bar: elapsed/expected, kept inside the phase's span."""
    low, high = _PHASE_SPAN.get(phase, (0.0, 0.0))
    return min(high, max(low, fraction(expected, started, now)))
