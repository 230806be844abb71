"""A build pass as a self-contained job: (profile, where things live, key) -> PassResult.

The job syncs (snapshots the repositories: `sync_pass`), then builds into the profile's staging
PKGDIR (`build_pass`).  It never publishes: only the publisher (builder.py) flips `current`.
Nothing here keeps state in the process, so an executor may run the two halves apart: the farm
syncs on the server and builds on a worker, in the worker's own data dir and without a key
(key None: unsigned packages, no system image; the server signs and makes the image).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provision.builder import distfiles
from provision.builder.dedup import seed
from provision.builder.plan import (
    bootstrap_argv,
    bootstrap_env,
    emerge_argv,
    emerged,
    failure_line,
    preserved_rebuild_argv,
)
from provision.builder.roots import BuildRoot, Mounts, make_root
from provision.builder.settings import RootSpec
from provision.builder.state import Phase
from provision.builder.sync import snapshot_tree
from provision.errors import ProvisionError
from provision.fsutil import write_atomic
from provision.image.pack import build_image, files_in
from provision.portage.diagnose import diagnose
from provision.portage.render import render_world
from provision.profiles.model import Profile
from provision.run import Result
from provision.signing import KeyInfo
from provision.snapshots.index import read_index
from provision.snapshots.layout import DataLayout

Report = Callable[[Phase], None]
PRESERVED_LIBS_REGISTRY = "var/lib/portage/preserved_libs_registry"
IMAGE_INPUTS = "inputs"  # beside the image: the world set and @system it was made from


@dataclass(frozen=True)
class PassJob:
    profile: Profile
    pass_id: str
    data_dir: Path
    root: RootSpec
    key: KeyInfo | None  # None: build unsigned (a farm worker; the server signs)
    jobs: int = 1
    link_dest: Path | None = None  # the current snapshot's repo/ (hard-link unchanged files)
    seed_from: tuple[Path, ...] = ()  # staging PKGDIRs of profiles with the same build state
    seed_exclude: tuple[str, ...] = ()  # category/name never taken from them (the kernel)
    distcc_hosts: tuple[str, ...] = ()
    current: Path | None = None  # the published snapshot (to tell whether the set changed)
    images: bool = True  # also make the profile's system image when the package set changed
    distfiles: dict[str, dict[str, str]] = field(default_factory=dict)  # build.toml [distfiles]


@dataclass(frozen=True)
class PassResult:
    profile: str
    pass_id: str
    ok: bool
    log: Path
    repo_dir: Path  # holds <name>/ snapshot trees
    repo_digest: str
    error: str = ""
    advice: str = ""
    image: Path | None = None  # directory with the new system image, manifest and signature
    built: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    seconds: float = 0.0
    staging: Path | None = None  # the PKGDIR to publish (None: the profile's staging PKGDIR)
    meta: dict[str, object] = field(default_factory=dict)  # more for the snapshot's meta.json


def run_pass(job: PassJob, report: Report) -> PassResult:
    """Sync, then build (in-process: both halves here)."""
    start = time.monotonic()
    report(Phase.SYNCING)
    repo_dir = DataLayout(job.data_dir).repos(job.profile.name) / job.pass_id
    repo_digest = sync_pass(job, repo_dir)
    return build_pass(job, repo_dir, repo_digest, report, start)


def sync_pass(job: PassJob, repo_dir: Path) -> str:
    """Snapshot the profile's repositories into repo_dir (<name>/ trees) and provide the
    declared distfiles; returns the repository digest (a new digest: a new snapshot)."""
    shutil.rmtree(repo_dir, ignore_errors=True)
    digest = hashlib.sha256()
    for repo in job.profile.repositories:
        prev = job.link_dest / repo.name if job.link_dest else None
        sub = snapshot_tree(Path(repo.location), repo_dir / repo.name, prev)
        digest.update(f"{repo.name} {sub}\n".encode())
    # files for fetch-restricted packages: into DISTDIR, their DIST lines into the snapshot
    digest.update(
        distfiles.apply(
            {r.name: repo_dir / r.name for r in job.profile.repositories},
            DataLayout(job.data_dir).distfiles,
            job.distfiles,
        ).encode()
    )
    return digest.hexdigest()


def build_pass(
    job: PassJob, repo_dir: Path, repo_digest: str, report: Report, start: float | None = None
) -> PassResult:
    """Build the profile from the repository snapshot in repo_dir into its staging PKGDIR."""
    start = time.monotonic() if start is None else start
    layout = DataLayout(job.data_dir)
    name = job.profile.name
    log = layout.logs(name) / f"{job.pass_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def result(
        ok: bool, error: str = "", text: str = "", advice: str = "", image: Path | None = None
    ) -> PassResult:
        built, reused = emerged(text)
        return PassResult(
            name,
            job.pass_id,
            ok,
            log,
            repo_dir,
            repo_digest,
            error,
            advice,
            image,
            tuple(built),
            tuple(reused),
            time.monotonic() - start,
        )

    def failed(res: Result, what: str) -> PassResult:
        text = log.read_text(errors="replace")
        diagnosis = diagnose(text)
        if diagnosis is not None:
            with open(log, "a") as fh:
                fh.write(f"provision: diagnosis: {diagnosis.report()}\n")
            return result(False, f"{what}: {diagnosis.summary}", text, diagnosis.report())
        why = failure_line(text) or f"emerge exited with {res.returncode}"
        return result(False, f"{what}: {why}" if what != "update" else why, text)

    report(Phase.BUILDING)
    mounts = Mounts(
        root=layout.root(name),
        repos={r.name: repo_dir / r.name for r in job.profile.repositories},
        pkgdir=layout.pkgdir(name),
        distdir=layout.distfiles,
        key=job.key,
    )
    mounts.pkgdir.mkdir(parents=True, exist_ok=True)
    mounts.distdir.mkdir(parents=True, exist_ok=True)
    root = make_root(job.root)
    argv = emerge_argv(jobs=job.jobs)
    with open(log, "a") as fh:
        fh.write(f"provision: pass {job.pass_id} of {name} in a {root.kind} root\n")
        fh.write(f"provision: emerge {' '.join(argv)}\n")
    try:
        root.prepare(job.profile, mounts, job.jobs, job.distcc_hosts)
        seeded = seed(mounts.pkgdir, job.seed_from, job.seed_exclude)
        if seeded:
            with open(log, "a") as fh:
                fh.write(
                    f"provision: {seeded} packages offered by profiles with the same build state\n"
                )
            root.tool(mounts, "emaint", ["--fix", "binhost"], log)
        for step in job.profile.bootstrap:
            with open(log, "a") as fh:
                fh.write(f"provision: bootstrap step {step.atom} USE={' '.join(step.use)!r}\n")
            res = root.emerge(mounts, bootstrap_argv(step.atom), log, bootstrap_env(step.use))
            if res.returncode != 0:
                return failed(res, f"bootstrap step {step.atom}")
        res = root.emerge(mounts, argv, log)
        if res.returncode != 0:
            return failed(res, "update")
        # consumers of a library whose old soname Portage had to keep are rebuilt now; with
        # no preserved library the set is empty, and a second emerge run would only cost time
        if preserved_libs(mounts.root):
            res = root.emerge(mounts, preserved_rebuild_argv(), log)
            if res.returncode != 0:
                return failed(res, "@preserved-rebuild")
        else:
            with open(log, "a") as fh:
                fh.write(
                    "provision: no preserved libraries: @preserved-rebuild has nothing to do\n"
                )
        image = None
        inputs = image_inputs(job.profile, repo_dir)
        if job.images and job.key and needs_image(mounts.pkgdir, job.current, inputs):
            image = make_image(job, root, mounts, log, inputs)
    except ProvisionError as exc:
        with open(log, "a") as fh:
            fh.write(f"provision: {exc}\n")
        return result(False, str(exc))
    return result(True, "", log.read_text(errors="replace"), image=image)


def preserved_libs(root: Path) -> bool:
    """Whether Portage keeps old libraries for consumers not rebuilt yet, from its registry in
    the root (EROOT/var/lib/portage/preserved_libs_registry, JSON; prefix and stage roots
    alike).  Unreadable or unknown: True (then @preserved-rebuild runs, as it always did)."""
    path = root / PRESERVED_LIBS_REGISTRY
    try:
        text = path.read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return True
    return not isinstance(data, dict) or any(
        not isinstance(v, list) or len(v) < 3 or v[2] for v in data.values()
    )


def image_inputs(profile: Profile, repo_dir: Path) -> str:
    """Pure but for reading the snapshot: what decides an image's package set besides the
    binary packages: the world set, and the repositories' profiles/ (@system, masks)."""
    digest = hashlib.sha256()
    for repo in profile.repositories:
        base = repo_dir / repo.name / "profiles"
        for path in sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []:
            digest.update(f"{path.relative_to(base)}\0".encode() + path.read_bytes())
    return render_world(profile) + f"# profiles {digest.hexdigest()}\n"


def needs_image(staging: Path, current: Path | None, inputs: str) -> bool:
    """A new image unless the published snapshot has one made from the very same binary
    packages and inputs (image_inputs): only when the set changed."""
    if current is None or not files_in(current / "image").signature.is_file():
        return True
    recorded = current / "image" / IMAGE_INPUTS
    return (
        read_index(staging).identity() != read_index(current / "binhost").identity()
        or not recorded.is_file()
        or recorded.read_text() != inputs
    )


def make_image(job: PassJob, root: BuildRoot, mounts: Mounts, log: Path, inputs: str) -> Path:
    """The profile's system image from mounts.pkgdir, signed, in builds/<p>/image/<pass>."""
    if job.key is None:
        raise ProvisionError("a system image needs the signing key (made on the server)")
    key = job.key
    layout = DataLayout(job.data_dir)
    out = layout.build_dir(job.profile.name) / "image" / job.pass_id
    work = layout.build_dir(job.profile.name) / "image-work"
    shutil.rmtree(out, ignore_errors=True)
    image_log = log.with_name(log.stem + ".image.log")
    with open(log, "a") as fh:
        fh.write(f"provision: making the system image (log: {image_log})\n")
    world = render_world(job.profile)
    write_atomic(out / IMAGE_INPUTS, inputs)  # what the image was made of (see needs_image)
    try:
        build_image(
            lambda target: root.merge_image(mounts, target, world, image_log),
            out_dir=out,
            key=key,
            work=work,
            profile=job.profile.name,
            snapshot=job.pass_id,
        )
    except ProvisionError as exc:
        raise ProvisionError(f"system image: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
