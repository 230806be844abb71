"""After an upload is accepted: the server signs, indexes and makes the image (the key never
leaves it), then hands a PassResult to the builder, which publishes through its atomic path.

staging (DATA_DIR/farm/passes/<pass>/staging) gets each indexed package: the server's signed
copy when it has one (by the SHA-256 of the unsigned upload: a package reused by a worker is
not signed again), else the upload, signed in place with Portage's own gpkg-sign code; then
`emaint binhost --fix`'s code writes the index of the signed files (provision.farm.gpkgsign:
their calls, one process per pass).  It runs in the profile's signer prefix
(DATA_DIR/builds/<profile>/signer: a Portage config only, with the key; for every root kind).
The system image is made from the signed staging exactly as an in-process pass makes it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from provision.builder.job import PassJob, image_inputs, make_image, needs_image
from provision.builder.roots import Mounts, PrefixRoot, make_root
from provision.farm.accept import Accepted
from provision.farm.uploads import FarmLayout, remember_signed
from provision.portage.prefix import Prefix
from provision.run import run
from provision.snapshots.layout import DataLayout

SIGN_TIMEOUT = 3600.0


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def sign_argv(files: list[Path]) -> list[str]:
    """Pure: sign a pass's new packages, then index the staging PKGDIR (one process)."""
    return [sys.executable, "-m", "provision.farm.gpkgsign", "--index", *map(str, files)]


def mounts_for(job: PassJob, repo_dir: Path, staging: Path, root: Path) -> Mounts:
    layout = DataLayout(job.data_dir)
    return Mounts(
        root=root,
        repos={r.name: repo_dir / r.name for r in job.profile.repositories},
        pkgdir=staging,
        distdir=layout.distfiles,
        key=job.key,
    )


def assemble(job: PassJob, repo_dir: Path, accepted: Accepted, staging: Path, log: Path) -> int:
    """Fill staging with signed packages and their index; returns how many were signed now."""
    layout = DataLayout(job.data_dir)
    farm = FarmLayout(job.data_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    signer = mounts_for(job, repo_dir, staging, layout.build_dir(job.profile.name) / "signer")
    signer.distdir.mkdir(parents=True, exist_ok=True)
    PrefixRoot().prepare(job.profile, signer, job.jobs)  # make.conf names the key
    fresh = []
    for rel, path in sorted(accepted.files.items()):
        signed = farm.signed_package(accepted.shas[rel])
        _link(path, staging / rel)
        if path != signed:
            fresh.append(rel)
    started = time.monotonic()
    run(
        sign_argv([staging / rel for rel in fresh]),
        env=Prefix(signer.root).env(),
        log_path=log,
        timeout=SIGN_TIMEOUT,
    )
    entries = {e["PATH"]: e for e in accepted.index.entries}
    for rel in fresh:
        entry = entries[rel]
        remember_signed(farm, accepted.shas[rel], staging / rel, int(entry["SIZE"]), entry["SHA1"])
    with open(log, "a") as fh:
        fh.write(
            f"provision: signed {len(fresh)} packages with gpkg-sign and indexed them with "
            f"emaint in {time.monotonic() - started:.2f} s "
            f"({len(accepted.files) - len(fresh)} signed before)\n"
        )
    return len(fresh)


def image_for(job: PassJob, repo_dir: Path, staging: Path, log: Path) -> Path | None:
    """The system image from the signed staging, when the package set changed (as in-process),
    merged by the profile's own root kind on the server."""
    inputs = image_inputs(job.profile, repo_dir)
    if not (job.images and job.key and needs_image(staging, job.current, inputs)):
        return None
    mounts = mounts_for(job, repo_dir, staging, DataLayout(job.data_dir).root(job.profile.name))
    root = make_root(job.root)
    root.prepare(job.profile, mounts, job.jobs)
    return make_image(job, root, mounts, log, inputs)
