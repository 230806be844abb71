"""The server side of the farm: passes become slots, slots become Celery tasks, and the server
makes sure each slot runs to the end exactly once at a time.

`Farm` publishes slots (routing: a queue per profile, a queue per worker) and reconciles every
second: a lease whose worker went silent for the lease TTL is taken back and the slot published
again (the old message, if Celery ever redelivers it, gets 409/410 and is dropped); a queued slot
whose message is no longer in Redis (a restarted broker without persistence, a publish that
failed) or whose queue nobody consumes is published again.  Republishing is always safe: the
lease refuses every delivery but one.

`FarmExecutor` is the builder's executor for a farm: it syncs on the server, opens the pass,
waits for the uploads, checks them, decides k-of-n, signs and returns the PassResult that the
builder publishes.  After a server restart it adopts the open pass of the profile instead of
starting another one, so an upload in progress resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from provision.builder.job import PassJob, PassResult, Report, run_pass, sync_pass
from provision.builder.settings import BuildSettings, FarmTuning
from provision.builder.state import Phase
from provision.errors import ProvisionError
from provision.farm.accept import Accepted, accept
from provision.farm.celeryapp import TASK_NAME, make_celery
from provision.farm.finish import assemble, image_for
from provision.farm.kofn import Decision, Upload, Verdict, decide
from provision.farm.model import (
    LOG,
    PassState,
    SlotState,
    WorkerView,
    parse_manifest,
    profile_queue,
    route,
    worker_queue,
)
from provision.farm.store import FarmStore, Slot
from provision.farm.uploads import (
    FarmLayout,
    Refused,
    check_received,
    drop_slot,
    file_sha256,
    prune_signed,
)
from provision.fsutil import atomic_output
from provision.snapshots.layout import DataLayout

if TYPE_CHECKING:
    import redis
    from celery import Celery

log = logging.getLogger(__name__)
POLL = 0.5
REDIS_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: one list per priority step
PRIORITY_STEPS = (3, 6, 9)


def heartbeat_interval(tuning: FarmTuning) -> float:
    """How often a worker reports (idle and during a pass): well inside the lease TTL."""
    return max(0.5, min(15.0, tuning.lease_ttl / 4))


class Farm:
    def __init__(
        self,
        data_dir: Path,
        broker: str,
        tuning: FarmTuning,
        store: FarmStore,
        *,
        celery: Celery | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.layout = FarmLayout(data_dir)
        self.broker = broker
        self.tuning = tuning
        self.store = store
        self.celery = celery or make_celery(broker, tuning)
        self._redis: redis.Redis | None = None
        self._run_id = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.store.grace(time.time())  # leases and queued slots survive a server restart
        self._thread = threading.Thread(target=self._loop, name="farm-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.reconcile_once()
            except Exception:  # the loop must survive a broker outage or a bad row
                log.exception("farm: reconcile failed")

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                self.broker, socket_timeout=3, socket_connect_timeout=3
            )
        return self._redis

    # --- workers --------------------------------------------------------------------------------
    def live_window(self) -> float:
        return max(self.tuning.lease_ttl, 3 * heartbeat_interval(self.tuning))

    def worker_views(self) -> list[WorkerView]:
        now = time.time()
        queued = self.store.slots_in(SlotState.QUEUED, SlotState.LEASED)
        out = []
        for w in self.store.workers():
            busy = any(
                (s.state is SlotState.LEASED and s.worker == w.name)
                or (s.state is SlotState.QUEUED and s.queue == worker_queue(w.name))
                for s in queued
            )
            live = w.live(now, self.live_window())
            out.append(WorkerView(w.name, live, w.profiles, busy, w.queues))
        return out

    def last_builder(self, profile: str) -> str:
        for p in self.store.recent_passes(profile):
            if p.state is PassState.PUBLISHED and p.description.get("builder"):
                return str(p.description["builder"])
        return ""

    # --- publishing -----------------------------------------------------------------------------
    def route_of(self, slot: Slot) -> str:
        p = self.store.get_pass(slot.pass_id)
        taken = set()
        for s in self.store.slots(p.id):
            if s.id == slot.id or s.state is SlotState.CANCELLED:
                continue
            if s.worker and s.state is not SlotState.QUEUED:
                taken.add(s.worker)  # it holds or held a slot of this pass
            elif s.queue.startswith("worker."):
                taken.add(s.queue.removeprefix("worker."))  # a slot waits in its own queue
        return route(
            p.profile,
            slot.n,
            self.worker_views(),
            taken=taken,
            last_builder=self.last_builder(p.profile),
        )

    def publish(self, slot: Slot, queue: str = "") -> str:
        """Send the slot's task to the queue routing picks; "" when no worker fits yet."""
        queue = queue or self.route_of(slot)
        if not queue:
            return ""
        task_id = str(uuid.uuid4())
        try:
            with self._lock:
                self.celery.send_task(
                    TASK_NAME, args=[slot.id], queue=queue, routing_key=queue, task_id=task_id
                )
        except Exception as exc:  # kombu/redis errors: the reconciler publishes it later
            log.warning("farm: cannot publish %s: %s", slot.id, exc)
            self.store.note(slot.id, "publish-failed", "", str(exc))
            return ""
        self.store.published(slot.id, queue, task_id)
        return queue

    def message_present(self, slot: Slot) -> bool:
        """Is a message for the slot still in Redis (waiting in its queue, or unacked)?"""
        r = self.redis
        key = slot.id.encode()
        names = [slot.queue] + [f"{slot.queue}{REDIS_PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
        for name in names:
            messages: list[bytes] = cast(list[bytes], r.lrange(name, 0, -1))
            if any(key in m for m in messages):
                return True
        unacked: list[bytes] = cast(list[bytes], r.hvals("unacked"))
        return any(key in v for v in unacked)

    def queue_lengths(self) -> dict[str, int]:
        """Messages waiting per queue the server knows of (profile and worker queues)."""
        names = {profile_queue(p.profile) for p in self.store.open_passes()}
        names |= {s.queue for s in self.store.slots_in(SlotState.QUEUED) if s.queue}
        for w in self.store.workers():
            names |= set(w.queues)
        out = {}
        for name in sorted(names):
            keys = [name, *(f"{name}{REDIS_PRIORITY_SEP}{p}" for p in PRIORITY_STEPS)]
            out[name] = sum(cast(int, self.redis.llen(k)) for k in keys)
        return out

    def reconcile_once(self) -> None:
        now = time.time()
        ttl = self.tuning.lease_ttl
        for slot in self.store.slots_in(SlotState.LEASED):
            if now - slot.beat > ttl and self.store.expire(slot.id, now - ttl):
                log.warning("farm: %s: %s went silent; publishing it again", slot.id, slot.worker)
                drop_slot(self.layout.slot_dir(slot.pass_id, slot.n, slot.epoch))
                self.publish(self.store.slot(slot.id))
        try:
            info = cast(dict[str, Any], self.redis.info("server"))
            run_id = str(info.get("run_id", ""))
        except Exception as exc:
            log.debug("farm: broker unreachable: %s", exc)
            return  # nothing to check until it is back
        restarted = bool(self._run_id) and run_id != self._run_id
        if restarted:
            log.warning("farm: the broker restarted; checking every queued slot")
        self._run_id = run_id
        consumed = {
            q for w in self.store.workers() if w.live(now, self.live_window()) for q in w.queues
        }
        for slot in self.store.slots_in(SlotState.QUEUED):
            if not slot.queue:
                self.publish(slot)
            elif restarted or now - slot.published > self.tuning.requeue_grace:
                better = self.route_of(slot) if slot.queue not in consumed else slot.queue
                if not self.message_present(slot):
                    self.store.note(slot.id, "lost", "", "its message is not in the broker")
                    self.publish(slot)
                elif better and better != slot.queue:
                    self.store.note(slot.id, "reroute", "", f"nobody consumes {slot.queue}")
                    self.publish(slot, better)
                else:
                    self.store.touch_published(slot.id)


class FarmExecutor:
    """The builder's Executor when passes run on the farm."""

    def __init__(self, farm: Farm, settings: BuildSettings) -> None:
        self.farm = farm
        self.settings = settings
        self.store = farm.store

    def run(self, job: PassJob, report: Report) -> PassResult:
        if job.profile.secure_boot:
            # its kernel is signed for Secure Boot while it is built (secureboot.eclass): the
            # key never leaves the server, so this profile's passes stay on the server
            log.info("farm: %s signs for Secure Boot while building: built here", job.profile.name)
            return run_pass(job, report)
        start = time.monotonic()
        name = job.profile.name
        layout = FarmLayout(job.data_dir)
        adopted = self.store.open_pass(name)
        self._cleanup(layout, name, keep=adopted.id if adopted else "")
        if adopted is None:
            report(Phase.SYNCING)
            pass_id = self._open(job, layout)
        else:
            pass_id = adopted.id
            log.info("farm: %s: resuming pass %s", name, pass_id)
        job = dataclasses.replace(job, pass_id=pass_id)
        server_log = DataLayout(job.data_dir).logs(name) / f"{pass_id}.log"
        server_log.parent.mkdir(parents=True, exist_ok=True)
        return self._wait(job, layout, server_log, report, start)

    # --- opening a pass -------------------------------------------------------------------------
    def _open(self, job: PassJob, layout: FarmLayout) -> str:
        name = job.profile.name
        repo_dir = layout.repo_dir(job.pass_id)
        repo_digest = sync_pass(job, repo_dir)
        tar_path = layout.repo_tar(job.pass_id)
        with atomic_output(tar_path) as tmp, tarfile.open(tmp, "w") as tar:
            for child in sorted(repo_dir.iterdir()):
                tar.add(child, arcname=child.name)
        distdir = DataLayout(job.data_dir).distfiles
        wanted = {n for files in job.distfiles.values() for n in files}
        distfiles = [
            {"name": n, "size": (distdir / n).stat().st_size, "sha256": file_sha256(distdir / n)}
            for n in sorted(wanted)
            if (distdir / n).is_file()
        ]
        required = self.settings.verifications_for(name)
        desc: dict[str, Any] = {
            "pass_id": job.pass_id,
            "profile": dataclasses.asdict(job.profile),
            "root": job.root.kind.value,
            "jobs": job.jobs,
            "repo": {"size": tar_path.stat().st_size, "sha256": file_sha256(tar_path)},
            "repo_digest": repo_digest,
            "distfiles": distfiles,
            # profiles that build packages exactly as this one: the worker offers this pass
            # its own packages of theirs (dedup, as in-process; the kernel excepted).  Not
            # under k-of-n: every package published must then be this profile's own build
            # by each worker, not whatever its siblings left in the index.
            "seed": [p.parent.name for p in job.seed_from] if required == 1 else [],
            "seed_exclude": list(job.seed_exclude),
        }
        for slot in self.store.create_pass(job.pass_id, name, required, repo_digest, desc):
            self.farm.publish(slot)
        log.info("farm: %s: pass %s open (%d worker(s) required)", name, job.pass_id, required)
        return job.pass_id

    def _cleanup(self, layout: FarmLayout, profile: str, keep: str) -> None:
        """Pass directories of this profile's closed passes (published ones were moved)."""
        for p in self.store.recent_passes(profile, limit=50):
            if p.id != keep and p.state is not PassState.OPEN:
                shutil.rmtree(layout.pass_dir(p.id), ignore_errors=True)
        prune_signed(layout)

    # --- waiting and deciding -------------------------------------------------------------------
    def _wait(
        self, job: PassJob, layout: FarmLayout, server_log: Path, report: Report, start: float
    ) -> PassResult:
        pass_id = job.pass_id
        accepted: dict[str, Accepted] = {}
        while True:
            p = self.store.get_pass(pass_id)
            if p.state is not PassState.OPEN:
                return self._failed(job, layout, server_log, start, p.error or "pass cancelled")
            slots = self.store.slots(pass_id)
            if any(s.state in (SlotState.LEASED, SlotState.UPLOADED) for s in slots):
                report(Phase.BUILDING)
            for s in slots:
                if s.state is SlotState.UPLOADED:
                    self._accept(job, layout, s, accepted)
            slots = self.store.slots(pass_id)
            bad = [s for s in slots if s.state in (SlotState.REFUSED, SlotState.FAILED)]
            if bad:
                s = bad[0]
                outcome = (s.manifest or {}).get("outcome", {})
                self._copy_log(layout, s, server_log)
                if s.state is SlotState.REFUSED:
                    error = f"upload from worker {s.worker} refused: {s.error}"
                else:
                    error = f"{s.error} (on worker {s.worker})"
                self.store.finish_pass(pass_id, PassState.FAILED, error)
                return self._failed(
                    job,
                    layout,
                    server_log,
                    start,
                    error,
                    advice=str(outcome.get("advice", "")),
                    built=tuple(outcome.get("built", ())),
                    reused=tuple(outcome.get("reused", ())),
                )
            decision = self._decide(p.profile, p.required, slots, job, layout, accepted)
            final = decision.verdict in (Verdict.PUBLISH, Verdict.FAIL)
            for worker, why in decision.flagged.items() if final else ():
                self.store.flag(worker, why)  # on the whole pass's evidence only, not midway
                log.warning("farm: worker %s flagged: %s", worker, why)
            if decision.verdict is Verdict.PUBLISH:
                return self._finish(job, layout, server_log, decision, accepted, start)
            if decision.verdict is Verdict.MORE:
                self.farm.publish(self.store.add_slot(pass_id))
            elif decision.verdict is Verdict.FAIL:
                self.store.finish_pass(pass_id, PassState.FAILED, decision.reason)
                return self._failed(job, layout, server_log, start, decision.reason)
            time.sleep(POLL)

    def _accept(
        self, job: PassJob, layout: FarmLayout, s: Slot, accepted: dict[str, Accepted]
    ) -> None:
        manifest = parse_manifest(s.manifest)
        slot_dir = layout.slot_dir(s.pass_id, s.n, s.epoch)
        try:
            check_received(layout, slot_dir, manifest)
            result = accept(layout, slot_dir, manifest)
        except Refused as exc:
            log.warning("farm: %s from %s refused: %s", s.id, s.worker, exc)
            self.store.set_state(s.id, SlotState.REFUSED, str(exc), s.worker)
            return
        for d in result.digests:
            self.store.record(job.profile.name, d.cpv, d.state, d.content, s.worker, s.pass_id)
        accepted[s.id] = result
        self.store.set_state(s.id, SlotState.ACCEPTED, "", s.worker)

    def _decide(
        self,
        profile: str,
        required: int,
        slots: list[Slot],
        job: PassJob,
        layout: FarmLayout,
        accepted: dict[str, Accepted],
    ) -> Decision:
        uploads = []
        for s in slots:
            if s.state is not SlotState.ACCEPTED:
                continue
            if s.id not in accepted:  # accepted before a server restart: check it again
                slot_dir = layout.slot_dir(s.pass_id, s.n, s.epoch)
                accepted[s.id] = accept(layout, slot_dir, parse_manifest(s.manifest))
            uploads.append(Upload(s.id, s.worker, accepted[s.id].digests))
        history = {
            d.key: self.store.agreeing(profile, d.cpv, d.state) for u in uploads for d in u.packages
        }
        building = sum(1 for s in slots if s.state in (SlotState.QUEUED, SlotState.LEASED))
        building += sum(1 for s in slots if s.state is SlotState.UPLOADED)
        in_pass = {s.worker for s in slots if s.worker}
        can_more = len(slots) < required + 2 and any(
            w.live and w.serves(profile) and w.name not in in_pass for w in self.farm.worker_views()
        )
        return decide(required, uploads, history, building=building, can_ask_more=can_more)

    # --- endings --------------------------------------------------------------------------------
    def _copy_log(self, layout: FarmLayout, s: Slot, server_log: Path) -> None:
        worker_log = layout.slot_dir(s.pass_id, s.n, s.epoch) / LOG
        if worker_log.is_file():
            with open(server_log, "ab") as out, open(worker_log, "rb") as src:
                shutil.copyfileobj(src, out)

    def _finish(
        self,
        job: PassJob,
        layout: FarmLayout,
        server_log: Path,
        decision: Decision,
        accepted: dict[str, Accepted],
        start: float,
    ) -> PassResult:
        pass_id = job.pass_id
        s = self.store.slot(decision.slot)
        manifest = parse_manifest(s.manifest)
        outcome = manifest.outcome
        self._copy_log(layout, s, server_log)
        agreeing = sorted(
            {x.worker for x in self.store.slots(pass_id) if x.state is SlotState.ACCEPTED}
        )
        with open(server_log, "a") as fh:
            fh.write(
                f"provision: built on worker {s.worker} in {outcome.seconds:.1f} s; "
                f"verified by {', '.join(agreeing)} "
                f"({min(decision.counts.values(), default=0)} agreeing, {job.pass_id})\n"
            )
        repo_dir = layout.repo_dir(pass_id)
        staging = layout.staging(pass_id)
        try:
            assemble(job, repo_dir, accepted[s.id], staging, server_log)
            image = image_for(job, repo_dir, staging, server_log)
        except ProvisionError as exc:
            self.store.finish_pass(pass_id, PassState.FAILED, f"signing: {exc}")
            return self._failed(job, layout, server_log, start, f"signing on the server: {exc}")
        p = self.store.get_pass(pass_id)
        self.store.finish_pass(pass_id, PassState.PUBLISHED)
        self._set_builder(p.id, s.worker)
        return PassResult(
            job.profile.name,
            pass_id,
            True,
            server_log,
            repo_dir,
            p.repo_digest,
            image=image,
            built=outcome.built,
            reused=outcome.reused,
            seconds=time.monotonic() - start,
            staging=staging,
            meta={
                "worker": s.worker,
                "verified_by": agreeing,
                "eprefix": outcome.eprefix,
                "build_seconds": outcome.seconds,
            },
        )

    def _set_builder(self, pass_id: str, worker: str) -> None:
        p = self.store.get_pass(pass_id)
        self.store.set_description(pass_id, {**p.description, "builder": worker})

    def _failed(
        self,
        job: PassJob,
        layout: FarmLayout,
        server_log: Path,
        start: float,
        error: str,
        *,
        advice: str = "",
        built: tuple[str, ...] = (),
        reused: tuple[str, ...] = (),
    ) -> PassResult:
        with open(server_log, "a") as fh:
            fh.write(f"provision: {error}\n")
        return PassResult(
            job.profile.name,
            job.pass_id,
            False,
            server_log,
            layout.repo_dir(job.pass_id),
            "",
            error=error,
            advice=advice,
            built=built,
            reused=reused,
            seconds=time.monotonic() - start,
        )
