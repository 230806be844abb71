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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from provision.errors import CommandError
from provision.image.manifest import ImageError, Manifest, verified_chunks
from provision.image.pack import IMAGE_NAME, TAR_COMMON
from provision.run import run, run_feeding
from provision.signing import gpg_argv

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


def stage_image(source: str, target: Path, verify_home: Path) -> Manifest:
    """Verify the signed manifest, then stream the image through the per-chunk checks into tar,
    extracting into target/STAGING (removed again on any failure).

    The signature check (a gpg process) runs while tar starts: tar's first byte waits for the
    verified manifest, so nothing unverified reaches it, and the two start-ups overlap."""
    seen: dict[str, str] = {}
    staging = target / STAGING
    with ThreadPoolExecutor(1, thread_name_prefix="manifest") as pool:
        checked = pool.submit(fetch_manifest, source, verify_home, seen)

        def chunks() -> Iterator[bytes]:
            manifest = checked.result()  # ImageError if it does not verify: tar is stopped
            with open_source(pinned(source, seen.get("snapshot", "")), IMAGE_NAME) as fh:
                yield from verified_chunks(fh, manifest)

        if staging.exists():
            shutil.rmtree(staging)  # a previous, interrupted attempt
        staging.mkdir(parents=True)
        try:
            run_feeding(extract_argv(staging), chunks())
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return checked.result()


def install_image(source: str, target: Path, verify_home: Path) -> Manifest:
    """Verify and extract the image at source (URL or directory) into the target root."""
    manifest = stage_image(source, target, verify_home)
    move_into_place(target / STAGING, target)
    return manifest


def move_into_place(staging: Path, root: Path) -> None:
    """Move the staged tree into root (renames, same file system: no data is copied): into
    existing directories, through symlinks to directories inside root (a merged-/usr stage's
    /sbin -> usr/sbin), replacing files and symlinks."""
    _merge(staging, root, root)
    shutil.rmtree(staging)


def _merge(src_dir: Path, dst_dir: Path, root: Path) -> None:
    for entry in sorted(os.scandir(src_dir), key=lambda e: e.name):
        src, dst = Path(entry.path), dst_dir / entry.name
        if entry.is_dir(follow_symlinks=False):
            existing = existing_dir(dst, root)
            if existing is not None:
                _merge(src, existing, root)
                continue
        elif dst.is_dir() and not dst.is_symlink():
            raise ImageError(f"{dst}: a directory in the target, a file in the image")
        if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
            dst.unlink()
        try:
            os.replace(src, dst)
        except OSError as exc:
            raise ImageError(f"cannot put {dst} in place: {exc.strerror}") from exc


def existing_dir(path: Path, root: Path) -> Path | None:
    """The directory `path` is or leads to through symlinks resolved inside root (an absolute
    link target is relative to root, as in a chroot), or None."""
    for _ in range(40):
        if not path.is_symlink():
            return path if path.is_dir() else None
        link = os.readlink(path)
        nxt = root / link.lstrip("/") if link.startswith("/") else path.parent / link
        path = Path(os.path.normpath(nxt))
        if not path.is_relative_to(root):
            return None
    return None
