"""What the builds pages and the admin API show of the farm (assembled from its store and,
when serve runs one, the dispatcher): workers with their last heartbeat and what they run,
queue lengths, open passes with their slots, per-package verification counts."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from provision.farm.dispatch import Farm
from provision.farm.model import SlotState
from provision.farm.store import FarmStore, Slot, Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerRow:
    name: str
    host: str
    live: bool
    last_seen: float
    age: float | None  # seconds since the last heartbeat, None when never seen
    running: str  # "profile pass.slot" it holds a lease on, "" when idle
    queues: tuple[str, ...]
    profiles: tuple[str, ...]
    flag: str
    revoked: bool


@dataclass(frozen=True)
class SlotRow:
    profile: str
    slot: str
    n: int
    state: str
    worker: str
    since: float
    queue: str


def _running(slots: list[tuple[str, Slot]], name: str) -> str:
    for profile, s in slots:
        if s.worker == name and s.state is SlotState.LEASED:
            return f"{profile} {s.id}"
    return ""


def summary(store: FarmStore, farm: Farm | None, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    window = farm.live_window() if farm else 60.0
    open_slots = [(p.profile, s) for p in store.open_passes() for s in store.slots(p.id)]
    workers = [_row(w, now, window, open_slots) for w in store.workers()]
    queues: dict[str, int] | None = None
    if farm is not None:
        try:
            queues = farm.queue_lengths()
        except Exception as exc:  # the broker is down: the page still shows the rest
            log.warning("farm: queue lengths: %s", exc)
    slots = [
        SlotRow(profile, s.id, s.n, s.state.value, s.worker, s.updated, s.queue)
        for profile, s in open_slots
    ]
    return {
        "enabled": farm is not None,
        "broker": farm.broker.split("@")[-1] if farm else "",
        "workers": [asdict(w) for w in workers],
        "queues": queues,
        "slots": [asdict(s) for s in slots],
    }


def _row(w: Worker, now: float, window: float, open_slots: list[tuple[str, Slot]]) -> WorkerRow:
    return WorkerRow(
        name=w.name,
        host=w.host,
        live=w.live(now, window),
        last_seen=w.last_seen,
        age=round(now - w.last_seen, 1) if w.last_seen else None,
        running=_running(open_slots, w.name),
        queues=w.queues,
        profiles=w.profiles,
        flag=w.flag,
        revoked=w.revoked is not None,
    )


def packages(store: FarmStore, profile: str, required: int) -> list[dict[str, Any]]:
    """Per package: the most agreeing workers, and the workers that built something else."""
    out = []
    for cpv, contents in sorted(store.verification_counts(profile).items()):
        best = max(contents.values(), key=len)
        others = sorted({w for ws in contents.values() if ws is not best for w in ws} - best)
        out.append(
            {
                "cpv": cpv,
                "count": len(best),
                "required": required,
                "workers": sorted(best),
                "disagree": others,
            }
        )
    return out


def pass_detail(store: FarmStore, pass_id: str) -> dict[str, Any]:
    p = store.get_pass(pass_id)
    return {
        "pass": {
            "id": p.id,
            "profile": p.profile,
            "state": p.state.value,
            "required": p.required,
            "error": p.error,
            "created": p.created,
            "finished": p.finished,
            "builder": p.description.get("builder", ""),
        },
        "slots": [
            {
                "id": s.id,
                "n": s.n,
                "state": s.state.value,
                "worker": s.worker,
                "epoch": s.epoch,
                "queue": s.queue,
                "publishes": s.publishes,
                "error": s.error,
            }
            for s in store.slots(pass_id)
        ],
        "events": [asdict(e) for e in store.events(pass_id)],
    }
