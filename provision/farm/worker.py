"""`provision worker`: a build machine of the farm.

The worker asks the server who it is (its token names it), consumes its own queue and the
queues of the profiles it serves, and heartbeats.  Each task is one slot:

lease (409/410: someone else has it, or it is over: drop the message) -> fetch the pass's
repository snapshot and distfiles -> build in the warm root of the profile, unsigned, in a
process of its own (killed at once when the server fences the lease) -> upload the packages,
the index, the log and what was built, in checksummed chunks that resume -> complete.

The worker never signs and never publishes: the server checks, signs and publishes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.builder.settings import FarmTuning, RootKind, load_settings
from provision.errors import ConfigError, ProvisionError
from provision.farm.buildproc import BuildJob, kill_tree
from provision.farm.celeryapp import TASK_NAME, make_celery
from provision.farm.client import FarmClient, Fenced, Throttle
from provision.farm.model import (
    INDEX,
    LOG,
    BuildOutcome,
    FileEntry,
    Manifest,
    parse_slot_id,
    profile_name,
    profile_queue,
    worker_queue,
)
from provision.farm.uploads import file_sha256
from provision.snapshots.layout import DataLayout
from provision.snapshots.verify import read_index

log = logging.getLogger("provision.worker")


@dataclass(frozen=True)
class WorkerConfig:
    server: str
    token: str
    data_dir: Path
    name: str = ""  # from the server (whoami)
    profiles: tuple[str, ...] = ()  # () = every profile the server has
    heartbeat: float = 10.0
    upload_limit: int = 0  # bytes per second, 0 = no limit
    chunk: int = 512 << 10

    def client(self) -> FarmClient:
        return FarmClient(self.server, self.token)


def queues_for(name: str, profiles: tuple[str, ...]) -> list[str]:
    """Pure: the Celery queues a worker consumes: its own, then one per profile it serves."""
    return [worker_queue(name), *(profile_queue(p) for p in profiles)]


# --- one slot -----------------------------------------------------------------------------------
class Beats:
    """The lease heartbeat of a running slot, in a thread; kills the build when fenced."""

    def __init__(self, client: FarmClient, slot: str, lease: str, interval: float) -> None:
        self.client, self.slot, self.lease, self.interval = client, slot, lease, interval
        self.fenced = threading.Event()
        self._stop = threading.Event()
        self.build: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"beat-{slot}", daemon=True)

    def __enter__(self) -> Beats:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.client.beat(self.slot, self.lease):
                log.warning("%s: the server fenced this lease; stopping the build", self.slot)
                self.fenced.set()
                if self.build is not None and self.build.poll() is None:
                    kill_tree(self.build.pid)
                return


def _extract(tar_path: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(tar_path, "r:") as tar:
        tar.extractall(dest, filter="data")


def _fetch(cfg: WorkerConfig, client: FarmClient, desc: dict[str, Any], repo_dir: Path) -> None:
    layout = DataLayout(cfg.data_dir)
    pass_id = str(desc["pass_id"])
    tar_path = repo_dir.with_name(f"{pass_id}.tar")
    repo = desc["repo"]
    client.download(f"passes/{pass_id}/repo.tar", tar_path, int(repo["size"]), str(repo["sha256"]))
    _extract(tar_path, repo_dir)
    tar_path.unlink()
    for item in desc.get("distfiles", ()):
        name = str(item["name"])
        dest = layout.distfiles / Path(name).name
        fresh = dest.is_file() and dest.stat().st_size == item["size"]
        if fresh and file_sha256(dest) == item["sha256"]:
            continue
        client.download(
            f"passes/{pass_id}/distfiles/{name}", dest, int(item["size"]), item["sha256"]
        )


def _stage_for(cfg: WorkerConfig, profile: str, kind: RootKind) -> str:
    if kind is not RootKind.STAGE:
        return ""
    spec = load_settings(DataLayout(cfg.data_dir).settings_file).root_for(profile)
    if spec.stage is None:
        raise ConfigError(
            f"{cfg.data_dir}/build.toml",
            f"{profile} builds in a stage root: give this worker its stage tarball "
            f"([profile.{profile}] stage = PATH)",
        )
    return str(spec.stage)


def _build(cfg: WorkerConfig, desc: dict[str, Any], repo_dir: Path, beats: Beats) -> dict[str, Any]:
    layout = DataLayout(cfg.data_dir)
    profile = str(desc["profile"]["name"])
    kind = RootKind(str(desc["root"]))
    settings = load_settings(layout.settings_file)
    job = BuildJob(
        data_dir=str(cfg.data_dir),
        pass_id=str(desc["pass_id"]),
        profile=desc["profile"],
        root=kind.value,
        stage=_stage_for(cfg, profile, kind),
        jobs=int(desc.get("jobs", 1)),
        repo_dir=str(repo_dir),
        repo_digest=str(desc.get("repo_digest", "")),
        distcc_hosts=settings.distcc_hosts,
        parent=os.getpid(),
        seed=tuple(profile_name(n) for n in desc.get("seed", ())),
        seed_exclude=tuple(str(a) for a in desc.get("seed_exclude", ())),
    )
    jobs_dir = cfg.data_dir / "farm" / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    job_file = jobs_dir / f"{job.pass_id}.json"
    result_file = jobs_dir / f"{job.pass_id}.result.json"
    result_file.unlink(missing_ok=True)
    job_file.write_text(job.to_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "provision.farm.buildproc", str(job_file), str(result_file)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    beats.build = proc
    if beats.fenced.is_set():
        kill_tree(proc.pid)
    proc.wait()
    if beats.fenced.is_set():
        raise Fenced("the server took the lease back")
    if not result_file.is_file():
        raise ProvisionError(f"the build process ended without a result ({proc.returncode})")
    out: dict[str, Any] = json.loads(result_file.read_text())
    if not out.get("ok") and not Path(str(out.get("log", ""))).is_file():
        return _failure(cfg, job.pass_id, str(out.get("error") or "the build failed"))
    return out


def _failure(cfg: WorkerConfig, pass_id: str, error: str) -> dict[str, Any]:
    """A build result for a pass that failed before or outside emerge (its log says why)."""
    path = cfg.data_dir / "farm" / "jobs" / f"{pass_id}.error.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"provision: {error}\n")
    return {"ok": False, "error": error, "log": str(path)}


def manifest_for(result: dict[str, Any]) -> tuple[Manifest, dict[str, Path]]:
    """The files to upload: every package in the worker's index, the index, the log."""
    files: dict[str, Path] = {}
    if result.get("ok"):
        pkgdir = Path(result["pkgdir"])
        for entry in read_index(pkgdir).entries:
            files[entry["PATH"]] = pkgdir / entry["PATH"]
        files[INDEX] = pkgdir / "Packages"
    if result.get("log") and Path(result["log"]).is_file():
        files[LOG] = Path(result["log"])
    entries = tuple(
        FileEntry(rel, path.stat().st_size, file_sha256(path))
        for rel, path in sorted(files.items())
    )
    outcome = BuildOutcome(
        ok=bool(result.get("ok")),
        error=str(result.get("error", ""))[:4000],
        advice=str(result.get("advice", ""))[:4000],
        built=tuple(result.get("built", ())),
        reused=tuple(result.get("reused", ())),
        eprefix=str(result.get("eprefix", "")),
        seconds=float(result.get("seconds", 0.0)),
    )
    return Manifest(entries, outcome), files


def run_slot(cfg: WorkerConfig, slot: str, delivery: str) -> dict[str, Any]:
    """The task body: one slot, start to end.  Never raises for the expected endings (the
    message is acked: the server republishes what it still wants)."""
    parse_slot_id(slot)
    client = cfg.client()
    answer = client.lease(slot, delivery)
    if answer.status != 200:
        log.info(
            "%s: not leased (%s %s); dropping this delivery", slot, answer.status, answer.message
        )
        return {"slot": slot, "skipped": answer.status}
    grant = answer.json()
    lease, desc = str(grant["lease"]), grant["pass"]
    profile = str(desc["profile"]["name"])
    layout = DataLayout(cfg.data_dir)
    repo_dir = layout.repos(profile) / str(desc["pass_id"])
    log.info("%s: leased (%s, pass %s)", slot, profile, desc["pass_id"])
    try:
        with Beats(client, slot, lease, cfg.heartbeat) as beats:
            try:
                _fetch(cfg, client, desc, repo_dir)
                result = _build(cfg, desc, repo_dir, beats)
            except Fenced:
                raise
            except ProvisionError as exc:  # the pass cannot be built here: say so, once
                log.error("%s: %s", slot, exc)
                result = _failure(cfg, str(desc["pass_id"]), f"worker {cfg.name}: {exc}")
            manifest, files = manifest_for(result)
            started = time.monotonic()
            answer_ = client.upload(
                slot, lease, manifest, files, chunk=cfg.chunk, throttle=Throttle(cfg.upload_limit)
            )
            log.info(
                "%s: uploaded in %.2f s: %s", slot, time.monotonic() - started, answer_.get("state")
            )
            return {"slot": slot, **answer_}
    except Fenced as exc:
        log.warning("%s: fenced: %s", slot, exc)
        return {"slot": slot, "fenced": True}
    finally:
        shutil.rmtree(repo_dir, ignore_errors=True)


# --- the worker process -------------------------------------------------------------------------
def heartbeat_loop(cfg: WorkerConfig, queues: list[str], stop: threading.Event) -> None:
    client = FarmClient(cfg.server, cfg.token, timeout=10)
    host = socket.gethostname()
    while True:
        try:
            client.heartbeat(host, queues, list(cfg.profiles), "")
        except ProvisionError as exc:
            log.info("heartbeat: %s", exc)
        if stop.wait(cfg.heartbeat):
            return


def prepare(cfg: WorkerConfig) -> tuple[WorkerConfig, FarmTuning, list[str]]:
    """Ask the server who this worker is and what it serves; validate --profiles."""
    me = cfg.client().whoami()
    known = tuple(str(p) for p in me.get("profiles", ()))
    unknown = sorted(set(cfg.profiles) - set(known))
    if unknown:
        raise ConfigError("--profiles", f"the server has no profile {unknown[0]!r}")
    tuning = FarmTuning(
        visibility_timeout=int(me.get("visibility_timeout", FarmTuning.visibility_timeout)),
        lease_ttl=float(me.get("lease_ttl", FarmTuning.lease_ttl)),
        requeue_grace=float(me.get("requeue_grace", FarmTuning.requeue_grace)),
    )
    cfg = WorkerConfig(
        cfg.server,
        cfg.token,
        cfg.data_dir,
        str(me["name"]),
        cfg.profiles,
        float(me.get("heartbeat", cfg.heartbeat)),
        cfg.upload_limit,
        cfg.chunk,
    )
    return cfg, tuning, queues_for(cfg.name, cfg.profiles or known)


def start(cfg: WorkerConfig, broker: str, concurrency: int, loglevel: str = "INFO") -> int:
    """Run the Celery worker until it is stopped (SIGTERM: finish the pass first)."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    cfg, tuning, queues = prepare(cfg)
    app = make_celery(broker, tuning)

    @app.task(name=TASK_NAME, bind=True)  # type: ignore[untyped-decorator]
    def run_slot_task(self: Any, slot: str) -> dict[str, Any]:
        delivery = f"{self.request.id}@{cfg.name}:{socket.gethostname()}:{os.getpid()}"
        return run_slot(cfg, slot, delivery)

    stop = threading.Event()
    threading.Thread(
        target=heartbeat_loop, args=(cfg, queues, stop), name="heartbeat", daemon=True
    ).start()
    print(
        f"provision: worker {cfg.name} for {cfg.server}: queues {', '.join(queues)}; "
        f"data in {cfg.data_dir}",
        flush=True,
    )
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        "--hostname",
        f"{cfg.name}@{socket.gethostname()}",
        "--queues",
        ",".join(queues),
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    try:
        app.worker_main(argv)
    finally:
        stop.set()
    return 0
