"""Install of a demo profile: system image vs per-package emerge vs raw tar extraction.

Goal (issue 12, kept by issue 20): image install within 1.5x of raw extraction of the same
payload (medians of 3); per-package emerge was measured at ~100x on these machines.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Row
from provision.image.pack import build_image, merge_into
from provision.image.unpack import install_image
from provision.portage.prefix import Prefix
from provision.portage.render import BuildContext, render_all, render_repos_conf, render_world
from provision.profiles import ProfileSet
from provision.run import run
from provision.signing import create_key, stop_agents

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3


def timed(fn: Callable[[Path], object], base: Path, label: str, runs: int = RUNS) -> float:
    samples = []
    for i in range(runs):
        target = base / f"{label}-{i}"
        target.mkdir()
        start = time.perf_counter()
        fn(target)
        samples.append(time.perf_counter() - start)
        shutil.rmtree(target)
    return statistics.median(samples)


def main() -> list[Row]:
    profile = ProfileSet(ROOT / "profiles").get("desktop-amd64")
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        base = Path(tmp)
        pkgdir = base / "pkgs"
        for d in ("pkgs", "dist", "tmp"):
            (base / d).mkdir()
        ctx = BuildContext(
            pkgdir=str(pkgdir),
            distdir=str(base / "dist"),
            tmpdir=str(base / "tmp"),
            unprivileged=True,
        )
        prefix = Prefix(base / "builder")
        repo = Path(profile.main_repository.location)
        prefix.create(
            repos_conf=render_repos_conf(profile),
            portage_profile=repo / "profiles" / profile.portage.profile,
            files=render_all(profile, ctx),
        )
        prefix.run("emerge", ["--ask=n", "@system", "@world"], log_path=base / "build.log")
        key = create_key(base / "keys")
        try:
            world = render_world(profile)
            out = base / "image"
            start = time.perf_counter()
            files = build_image(
                lambda root: merge_into(
                    prefix, root, pkgdir=pkgdir, world=world, log_path=base / "i.log"
                ),
                out_dir=out,
                key=key,
                work=base / "work",
            )
            build_s = time.perf_counter() - start
            packages = len(list(pkgdir.glob("*/*/*.gpkg.tar")))
            size = files.image.stat().st_size
            # image and raw tar take turns (7 each, medians): the shared cores' load from
            # elsewhere falls on both alike
            image_runs, raw_runs = [], []
            for _ in range(7):
                image_runs.append(
                    timed(lambda t: install_image(str(out), t, key.verify_home), base, "image", 1)
                )
                raw_runs.append(
                    timed(
                        lambda t: run(["tar", "--zstd", "-xf", files.image, "-C", t]),
                        base,
                        "raw",
                        1,
                    )
                )
            image_s, raw_s = statistics.median(image_runs), statistics.median(raw_runs)
            emerge_s = timed(
                lambda t: merge_into(
                    prefix, t, pkgdir=pkgdir, world=world, log_path=base / "m.log"
                ),
                base,
                "emerge",
            )
        finally:
            stop_agents(base / "keys")
    print(f"packages: {packages}, image {size / 1024:.0f} KiB, image build {build_s:.2f} s")
    print(f"raw tar extraction     {raw_s * 1000:8.1f} ms   1.0x")
    print(
        f"image install          {image_s * 1000:8.1f} ms  {image_s / raw_s:5.1f}x  (goal <= 1.5x)"
    )
    print(f"per-package emerge     {emerge_s * 1000:8.1f} ms  {emerge_s / raw_s:5.1f}x")
    ratio = image_s / raw_s
    return [
        Row(
            "system image install",
            f"{image_s * 1000:.1f} ms",
            f"raw tar: {raw_s * 1000:.1f} ms",
            ratio,
            "<= 1.5x",
            ratio <= 1.5,
        )
    ]
