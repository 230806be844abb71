"""The build of one slot on a worker, in a process of its own:

    python -m provision.farm.buildproc JOB.json RESULT.json

It dies with the task (PR_SET_PDEATHSIG), adopts whatever its children orphan
(PR_SET_CHILD_SUBREAPER), and takes all its descendants down with it (emerge and everything it
runs, whatever process group Portage put them in), so a fenced pass or a killed worker leaves no
build behind that could touch the warm root.  The root is locked per profile (a second build of
the same profile on this worker waits).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from provision.builder.job import PassJob, build_pass
from provision.builder.settings import RootKind, RootSpec
from provision.errors import BuildError, ProvisionError
from provision.install.config import profile_from_dict
from provision.snapshots.layout import DataLayout

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LOCK_WAIT = 600.0


@dataclass(frozen=True)
class BuildJob:
    """What the task hands the build process (JSON)."""

    data_dir: str
    pass_id: str
    profile: dict[str, Any]
    root: str
    stage: str
    jobs: int
    repo_dir: str
    repo_digest: str
    distcc_hosts: tuple[str, ...]
    parent: int
    seed: tuple[str, ...] = ()  # sibling profiles (same build state) whose packages to offer
    seed_exclude: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> BuildJob:
        raw = json.loads(text)
        for key in ("distcc_hosts", "seed", "seed_exclude"):
            raw[key] = tuple(raw.get(key, ()))
        return cls(**raw)


def descendants(pid: int) -> list[int]:
    """Every process below pid (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, ()))
    return out


def kill_tree(pid: int, *, including: bool = True) -> None:
    """SIGKILL pid's descendants (and pid)."""
    for child in [*descendants(pid), *([pid] if including else [])]:
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _on_term(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    kill_tree(os.getpid(), including=False)  # emerge, ebuild.sh, the compiler: all of them
    os._exit(143)


@contextmanager
def root_lock(layout: DataLayout, profile: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    path = layout.lock_file(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with open(path, "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(f"{profile}: the build root stays locked ({path})") from None
                time.sleep(0.5)
        yield


def run(job: BuildJob) -> dict[str, Any]:
    profile = profile_from_dict(job.profile)
    kind = RootKind(job.root)
    spec = RootSpec(kind, Path(job.stage) if job.stage else None)
    layout = DataLayout(Path(job.data_dir))
    with root_lock(layout, profile.name):
        result = build_pass(
            PassJob(
                profile,
                job.pass_id,
                Path(job.data_dir),
                spec,
                None,  # unsigned: the key never leaves the server
                job.jobs,
                distcc_hosts=job.distcc_hosts,
                images=False,
                seed_from=tuple(layout.pkgdir(n) for n in job.seed if n != profile.name),
                seed_exclude=job.seed_exclude,
            ),
            Path(job.repo_dir),
            job.repo_digest,
            lambda phase: None,
        )
    return {
        "ok": result.ok,
        "error": result.error,
        "advice": result.advice,
        "built": list(result.built),
        "reused": list(result.reused),
        "seconds": result.seconds,
        "log": str(result.log),
        "pkgdir": str(layout.pkgdir(profile.name)),
        "eprefix": "" if kind is RootKind.STAGE else str(layout.root(profile.name)),
    }


def main(argv: list[str]) -> int:
    job = BuildJob.from_json(Path(argv[0]).read_text())
    _die_with_parent(job.parent)
    signal.signal(signal.SIGTERM, _on_term)
    try:
        out = run(job)
    except ProvisionError as exc:
        out = {"ok": False, "error": str(exc), "fatal": True}
    Path(argv[1]).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
