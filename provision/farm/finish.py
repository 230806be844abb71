"""After an upload is accepted: the server signs, indexes and makes the image (the key never
leaves it), then hands a PassResult to the builder, which publishes through its atomic path.

staging (DATA_DIR/farm/passes/<pass>/staging) gets each indexed package: the server's signed
copy when it has one (by the SHA-256 of the unsigned upload: a package reused by a worker is
not signed again), else the upload, signed in place by Portage's own `gpkg-sign`.  Portage's
`emaint binhost --fix` then writes the index of the signed files, and the system image is made
from them exactly as an in-process pass makes it.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.builder.job import PassJob, image_inputs, make_image, needs_image
from provision.builder.roots import STAGE_PKGDIR, BuildRoot, Mounts, make_root
from provision.builder.settings import RootKind
from provision.farm.accept import Accepted
from provision.farm.uploads import FarmLayout, remember_signed
from provision.snapshots.layout import DataLayout

SIGNERS = max(1, min(4, os.cpu_count() or 1))


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def sign_argv(kind: RootKind, staging: Path, rel: str) -> list[str]:
    """Pure: gpkg-sign's arguments for one package (a stage root sees PKGDIR at its own path)."""
    path = str(staging / rel) if kind is RootKind.PREFIX else f"{STAGE_PKGDIR}/{rel}"
    return ["--allow-unsigned", path]


def assemble(
    job: PassJob, repo_dir: Path, accepted: Accepted, staging: Path, log: Path
) -> tuple[BuildRoot, Mounts, int]:
    """Fill staging with signed packages and their index; returns the root, its mounts and how
    many packages were signed now."""
    layout = DataLayout(job.data_dir)
    farm = FarmLayout(job.data_dir)
    name = job.profile.name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    mounts = Mounts(
        root=layout.root(name),
        repos={r.name: repo_dir / r.name for r in job.profile.repositories},
        pkgdir=staging,
        distdir=layout.distfiles,
        key=job.key,
    )
    mounts.distdir.mkdir(parents=True, exist_ok=True)
    root = make_root(job.root)
    root.prepare(job.profile, mounts, job.jobs)  # the server's own root: signing configured
    fresh = []
    for rel, path in sorted(accepted.files.items()):
        sha = accepted.shas[rel]
        signed = farm.signed_package(sha)
        _link(signed if path == signed else path, staging / rel)
        if path != signed:
            fresh.append(rel)
    started = time.monotonic()

    def sign(rel: str) -> None:
        root.tool(mounts, "gpkg-sign", sign_argv(job.root.kind, staging, rel), log)

    with ThreadPoolExecutor(SIGNERS) as pool:
        list(pool.map(sign, fresh))
    signing = time.monotonic() - started
    entries = {e["PATH"]: e for e in accepted.index.entries}
    for rel in fresh:
        entry = entries[rel]
        remember_signed(farm, accepted.shas[rel], staging / rel, int(entry["SIZE"]), entry["SHA1"])
    started = time.monotonic()
    root.tool(mounts, "emaint", ["--fix", "binhost"], log)
    with open(log, "a") as fh:
        fh.write(
            f"provision: signed {len(fresh)} packages with gpkg-sign in {signing:.2f} s "
            f"({len(accepted.files) - len(fresh)} signed before); indexed with emaint in "
            f"{time.monotonic() - started:.2f} s\n"
        )
    return root, mounts, len(fresh)


def image_for(
    job: PassJob, root: BuildRoot, mounts: Mounts, repo_dir: Path, log: Path
) -> Path | None:
    """The system image from the signed staging, when the package set changed (as in-process)."""
    inputs = image_inputs(job.profile, repo_dir)
    if job.images and job.key and needs_image(mounts.pkgdir, job.current, inputs):
        return make_image(job, root, mounts, log, inputs)
    return None
