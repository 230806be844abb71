"""A profile's builder state, persisted atomically as JSON (builds/<profile>/state.json).

idle -> syncing -> building -> publishing -> published
              \\________\\___________\\____-> held  (until `provision build --trigger`)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.snapshots.layout import DataLayout


class Phase(StrEnum):
    IDLE = "idle"
    SYNCING = "syncing"
    BUILDING = "building"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    HELD = "held"


ALLOWED: dict[Phase, tuple[Phase, ...]] = {
    Phase.IDLE: (Phase.SYNCING,),
    Phase.SYNCING: (Phase.BUILDING, Phase.HELD),
    Phase.BUILDING: (Phase.PUBLISHING, Phase.HELD),
    Phase.PUBLISHING: (Phase.PUBLISHED, Phase.HELD),
    Phase.PUBLISHED: (Phase.SYNCING,),
    Phase.HELD: (Phase.SYNCING,),
}
# A pass found in one of these after a restart was interrupted (crash, kill, reboot).
IN_FLIGHT = (Phase.SYNCING, Phase.BUILDING, Phase.PUBLISHING)


@dataclass(frozen=True)
class ProfileState:
    profile: str
    phase: Phase = Phase.IDLE
    pass_id: str = ""  # the pass in flight or last finished
    snapshot: str = ""  # the snapshot last published by the builder
    error: str = ""  # why the profile is held (one line)
    advice: str = ""  # what would fix it (accept_keywords lines, a bootstrap step), if known
    log: str = ""  # the log of the last pass
    updated: float = 0.0
    built: tuple[str, ...] = ()  # cpvs built from source by the last pass
    reused: tuple[str, ...] = ()  # cpvs taken from earlier binary packages

    def to(self, phase: Phase, **changes: object) -> ProfileState:
        """The next state; a transition the state machine does not have is a bug."""
        if phase not in ALLOWED[self.phase] and phase != self.phase:
            raise ValueError(f"{self.profile}: {self.phase} -> {phase} is not a valid transition")
        return replace(self, phase=phase, updated=time.time(), **changes)  # type: ignore[arg-type]

    def recovered(self) -> ProfileState:
        """After a crash: an interrupted pass is forgotten (its staging stays for --usepkg)."""
        if self.phase in IN_FLIGHT:
            return replace(self, phase=Phase.IDLE, updated=time.time())
        return self


def load_state(path: Path, profile: str) -> ProfileState:
    if not path.is_file():
        return ProfileState(profile)
    try:
        raw = json.loads(path.read_text())
        return ProfileState(
            profile=profile,
            phase=Phase(raw.get("phase", "idle")),
            pass_id=str(raw.get("pass_id", "")),
            snapshot=str(raw.get("snapshot", "")),
            error=str(raw.get("error", "")),
            advice=str(raw.get("advice", "")),
            log=str(raw.get("log", "")),
            updated=float(raw.get("updated", 0.0)),
            built=tuple(raw.get("built", ())),
            reused=tuple(raw.get("reused", ())),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(str(path), f"corrupt builder state: {exc}") from exc


def save_state(path: Path, state: ProfileState) -> None:
    data = asdict(state)
    data["phase"] = state.phase.value
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def trigger(data_dir: Path, profile: str) -> None:
    """Ask for a pass now; also releases a held profile (the admin says it is fixed)."""
    write_atomic(DataLayout(data_dir).trigger_file(profile), f"{time.time()}\n")


def hold(data_dir: Path, profile: str, reason: str) -> ProfileState:
    """Hold a profile (e.g. after a rollback) until `provision build --trigger`."""
    layout = DataLayout(data_dir)
    st = load_state(layout.state_file(profile), profile).recovered()
    st = replace(st, phase=Phase.HELD, error=reason, updated=time.time())
    save_state(layout.state_file(profile), st)
    return st
