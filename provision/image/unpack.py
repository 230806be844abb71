"""Install an image: verify the signed manifest, stream the image through per-chunk checks into
GNU tar, extracting into a staging directory inside the target; only a complete, verified
extraction is moved into place, so a corrupt image leaves the target as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from provision.build.keys import gpg_argv
from provision.errors import CommandError
from provision.image.manifest import ImageError, Manifest, verified_chunks
from provision.image.pack import IMAGE_NAME, TAR_COMMON
from provision.run import run, run_feeding

STAGING = ".provision-image-staging"


SNAPSHOT_HEADER = "X-Provision-Snapshot"


@contextmanager
def open_source(source: str, name: str, seen: dict[str, str] | None = None) -> Iterator[BinaryIO]:
    """A file in a directory (an offline medium) or a URL, opened for streaming.  `seen`
    receives the snapshot id a provision server names in its response."""
    if source.startswith(("http://", "https://")):
        url = source.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                if seen is not None and resp.headers.get(SNAPSHOT_HEADER):
                    seen["snapshot"] = resp.headers[SNAPSHOT_HEADER]
                yield resp
        except urllib.error.URLError as exc:
            raise ImageError(f"cannot fetch {url}: {exc.reason}") from exc
    else:
        path = Path(source) / name
        try:
            with open(path, "rb") as fh:
                yield fh
        except FileNotFoundError as exc:
            raise ImageError(f"{path}: no such image file") from exc


def pinned(source: str, snapshot: str) -> str:
    """Pure: a ".../current" image URL turned into the snapshot's own, so that the image read
    next belongs to the manifest just verified even if `current` flips in between."""
    if snapshot and source.rstrip("/").endswith("/current"):
        return source.rstrip("/")[: -len("current")] + snapshot
    return source


def fetch_manifest(source: str, verify_home: Path, seen: dict[str, str] | None = None) -> Manifest:
    """The image's manifest, after its detached signature has been checked against verify_home."""
    with tempfile.TemporaryDirectory(prefix="provision-image-") as tmp:
        paths = {}
        for name in (f"{IMAGE_NAME}.manifest", f"{IMAGE_NAME}.manifest.asc"):
            with open_source(source, name, seen) as src, open(Path(tmp) / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            paths[name] = Path(tmp) / name
        try:
            res = run(
                gpg_argv(
                    verify_home,
                    "--batch",
                    "--status-fd",
                    "1",
                    "--verify",
                    str(paths[f"{IMAGE_NAME}.manifest.asc"]),
                    str(paths[f"{IMAGE_NAME}.manifest"]),
                )
            )
        except CommandError as exc:
            raise ImageError(
                f"image manifest signature from {source} does not verify: {exc}"
            ) from exc
        if "[GNUPG:] VALIDSIG" not in res.stdout or not any(
            t in res.stdout for t in ("TRUST_ULTIMATE", "TRUST_FULLY")
        ):
            raise ImageError(f"image manifest from {source} is not signed by a trusted key")
        return Manifest.parse(paths[f"{IMAGE_NAME}.manifest"].read_text())


def extract_argv(directory: Path) -> list[str]:
    return [
        "tar",
        "--extract",
        "--file=-",
        *TAR_COMMON,
        "--preserve-permissions",
        "--same-owner",
        "--use-compress-program=zstd -d",
        f"--directory={directory}",
    ]


def install_image(source: str, target: Path, verify_home: Path) -> Manifest:
    """Verify and extract the image at source (URL or directory) into the target root."""
    seen: dict[str, str] = {}
    manifest = fetch_manifest(source, verify_home, seen)
    source = pinned(source, seen.get("snapshot", ""))
    staging = target / STAGING
    if staging.exists():
        shutil.rmtree(staging)  # a previous, interrupted attempt
    staging.mkdir(parents=True)
    try:
        with open_source(source, IMAGE_NAME) as fh:
            run_feeding(extract_argv(staging), verified_chunks(fh, manifest))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    move_into_place(staging, target)
    return manifest


def move_into_place(staging: Path, target: Path) -> None:
    """Rename the staged tree into the target (same file system: no data is copied)."""
    for src_dir, dirs, files in os.walk(staging, topdown=True):
        rel = Path(src_dir).relative_to(staging)
        dst_dir = target / rel
        keep = []
        for d in dirs:
            src, dst = Path(src_dir) / d, dst_dir / d
            if not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
                keep.append(d)  # merge into the existing directory
            else:
                _replace(src, dst)
        dirs[:] = keep
        for f in files:
            _replace(Path(src_dir) / f, dst_dir / f)
    shutil.rmtree(staging)


def _replace(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise ImageError(f"cannot put {dst} in place: {exc.strerror}") from exc
