"""The web UI's view of the builder (provision.builder): small adapters, one per operation, so a
change in the builder's API is a one-line fix here.

Reads: the per-profile state file, the published snapshots, the pass logs.
Writes go through the builder's own functions: trigger (also resumes a held profile), hold,
rollback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import provision.builder as _builder
from provision.builder import load_state
from provision.run import tail_of
from provision.server.eta import (
    DEFAULT_BUILD,
    build_durations,
    build_fraction,
    expected_duration,
    pass_start,
    remaining,
)
from provision.snapshots import publish as _publish
from provision.snapshots import read as _read
from provision.snapshots.layout import DataLayout

LOG_TAIL = 16384
IN_FLIGHT = ("syncing", "building", "publishing")


@dataclass(frozen=True)
class BuildView:
    profile: str
    phase: str
    pass_id: str
    error: str
    log: str  # path of the last pass's log
    updated: float
    current: str  # the current snapshot id ("" when none published)
    snapshots: tuple[str, ...]  # newest first
    built: tuple[str, ...]
    reused: tuple[str, ...]
    progress: float  # 0..1 for the progress bar
    eta: float | None  # seconds left of the running pass, None when not running

    @property
    def running(self) -> bool:
        return self.phase in IN_FLIGHT

    def as_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "phase": self.phase,
            "pass_id": self.pass_id,
            "error": self.error,
            "updated": self.updated,
            "current": self.current,
            "snapshots": list(self.snapshots),
            "built": list(self.built),
            "reused": list(self.reused),
            "progress": round(self.progress, 4),
            "eta": None if self.eta is None else round(self.eta, 1),
            "running": self.running,
        }


def past_durations(data_dir: Path, profile: str, exclude: str = "") -> list[float]:
    """Durations of earlier passes: from each log's name (its start) and mtime (its end)."""
    logs = DataLayout(data_dir).logs(profile)
    if not logs.is_dir():
        return []
    # <pass>.log is a pass; <pass>.image.log (its system image) is part of that pass
    pairs = [
        (p.stem, p.stat().st_mtime)
        for p in logs.glob("*.log")
        if p.stem != exclude and not p.name.endswith(".image.log")
    ]
    return build_durations(pairs)


def view(data_dir: Path, profile: str, now: float | None = None) -> BuildView:
    now = time.time() if now is None else now
    layout = DataLayout(data_dir)
    st = load_state(layout.state_file(profile), profile)
    phase = st.phase.value
    progress, eta = (1.0 if phase == "published" else 0.0), None
    if phase in IN_FLIGHT:
        expected = expected_duration(past_durations(data_dir, profile, st.pass_id), DEFAULT_BUILD)
        started = pass_start(st.pass_id)
        progress = build_fraction(phase, started, now, expected)
        eta = remaining(expected, started, now)
    return BuildView(
        profile=profile,
        phase=phase,
        pass_id=st.pass_id,
        error=st.error,
        log=st.log,
        updated=st.updated,
        current=_read.current_id(layout, profile),
        snapshots=tuple(reversed(_read.list_snapshots(layout, profile))),
        built=st.built,
        reused=st.reused,
        progress=progress,
        eta=eta,
    )


def log_tail(data_dir: Path, profile: str, size: int = LOG_TAIL) -> str:
    """The end of the last pass's log (the live log while a pass runs)."""
    st = load_state(DataLayout(data_dir).state_file(profile), profile)
    if not st.log:
        return ""
    path = Path(st.log)
    logs = DataLayout(data_dir).logs(profile).resolve()
    if not path.resolve().is_relative_to(logs):
        return ""  # only logs under the data dir are shown
    return tail_of(path, size)


def snapshot_meta(data_dir: Path, profile: str, snapshot_id: str) -> dict[str, object]:
    return _read.read_meta(DataLayout(data_dir).snapshots(profile) / snapshot_id)


def trigger(data_dir: Path, profile: str) -> None:
    _builder.trigger(data_dir, profile)


def resume(data_dir: Path, profile: str) -> None:
    """A held profile resumes with the next pass (the builder treats a trigger as 'fixed')."""
    _builder.trigger(data_dir, profile)


def hold(data_dir: Path, profile: str, reason: str) -> None:
    _builder.hold(data_dir, profile, reason)


def rollback(data_dir: Path, profile: str, snapshot_id: str) -> str:
    return _publish.rollback(DataLayout(data_dir), profile, snapshot_id)
