"""What `provision status` reports per profile (pure assembly from the data dir)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provision.builder.state import load_state
from provision.errors import last_line
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_index, current_snapshot, read_meta


@dataclass(frozen=True)
class ProfileStatus:
    profile: str
    state: str
    snapshot: str
    path: str
    packages: int
    error: str
    advice: str
    log: str
    binhost_url: str
    repo_url: str
    worker: str = ""  # the farm worker that built the current snapshot ("": in-process)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def binhost_url(base_url: str, profile: str) -> str:
    return f"{base_url.rstrip('/')}/binhost/{profile}"


def repo_url(base_url: str, profile: str) -> str:
    return f"{base_url.rstrip('/')}/repo/{profile}/snapshot.tar.gz"


def profile_status(data_dir: Path, profile: str, base_url: str) -> ProfileStatus:
    layout = DataLayout(data_dir)
    st = load_state(layout.state_file(profile), profile)
    snap = current_snapshot(data_dir, profile)
    return ProfileStatus(
        profile=profile,
        state=st.phase.value,
        snapshot=snap.name if snap else "",
        path=str(snap) if snap else "",
        packages=len(current_index(layout, profile).entries),
        error=last_line(st.error),
        advice=st.advice,
        log=st.log,
        binhost_url=binhost_url(base_url, profile),
        repo_url=repo_url(base_url, profile),
        worker=str(read_meta(snap).get("worker", "")) if snap else "",
    )


def render_table(rows: list[ProfileStatus]) -> str:
    out = []
    for r in rows:
        out.append(f"{r.profile}: {r.state}")
        out.append(f"  snapshot: {r.snapshot or '(none published)'} {r.path}".rstrip())
        out.append(f"  packages: {r.packages}")
        if r.worker:
            out.append(f"  worker:   {r.worker}")
        if r.error:
            out.append(f"  error:    {r.error}")
        for line in r.advice.splitlines()[1:]:  # the first line repeats the error
            out.append(f"  advice:   {line}")
        if r.log:
            out.append(f"  log:      {r.log}")
        out.append(f"  binhost:  {r.binhost_url}")
    return "\n".join(out) + ("\n" if out else "")
