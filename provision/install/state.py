"""The install's progress, recorded in the target (var/lib/provision/install-state.json).

Written atomically after every step, so after a power loss a rerun skips what is done.
Steps before the root filesystem is mounted (partition, filesystems, mount) are checked
against the disk itself instead (their results carry UUIDs derived from the install seed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.errors import InstallError
from provision.fsutil import write_atomic

STATE_PATH = "var/lib/provision/install-state.json"


@dataclass
class InstallState:
    seed: str
    done: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def is_done(self, step: str) -> bool:
        return step in self.done

    def mark(self, step: str) -> None:
        if step not in self.done:
            self.done.append(step)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n"


def state_file(target: Path) -> Path:
    return target / STATE_PATH


def load_state(target: Path, seed: str) -> InstallState:
    """The recorded state, or a fresh one.  A state of another install is refused."""
    path = state_file(target)
    if not path.is_file():
        return InstallState(seed)
    try:
        data = json.loads(path.read_text())
        state = InstallState(
            seed=str(data["seed"]),
            done=[str(s) for s in data.get("done", [])],
            started=float(data.get("started", 0)),
            finished=float(data.get("finished", 0)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InstallError(f"{path}: unreadable install state: {exc}") from exc
    if state.seed != seed:
        raise InstallError(
            f"{path}: the target holds another install ({state.seed}, not {seed}); "
            "wipe it or choose another target"
        )
    return state


def save_state(target: Path, state: InstallState) -> None:
    write_atomic(state_file(target), state.to_json())
