"""Make a system image: merge with Portage into an empty root, pack, describe, sign."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.fsutil import write_atomic
from provision.image.manifest import DEFAULT_CHUNK, describe
from provision.portage.prefix import Prefix
from provision.run import run
from provision.signing import KeyInfo, gpg_argv

IMAGE_NAME = "system.tar.zst"
# GNU tar: keep xattrs (file capabilities live there), ACLs, hardlinks, device nodes, owners.
TAR_COMMON = ("--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner")


@dataclass(frozen=True)
class ImageFiles:
    image: Path  # system.tar.zst
    manifest: Path  # system.tar.zst.manifest
    signature: Path  # system.tar.zst.manifest.asc


def files_in(directory: Path) -> ImageFiles:
    image = directory / IMAGE_NAME
    manifest = directory / f"{IMAGE_NAME}.manifest"
    return ImageFiles(image, manifest, directory / f"{IMAGE_NAME}.manifest.asc")


def merge_argv(targets: tuple[str, ...] = ("@system", "@world")) -> list[str]:
    """emerge argv that merges binary packages only (never builds) into ROOT."""
    return [
        "--ask=n",
        "--usepkgonly",
        "--update",
        "--deep",
        "--newuse",
        "--with-bdeps=n",
        "--color=n",
        "--nospinner",
        "--quiet-build=y",
        *targets,
    ]


def merge_into(prefix: Prefix, root: Path, *, pkgdir: Path, world: str, log_path: Path) -> None:
    """Merge the world set (plus @system) from pkgdir into the empty root, as Portage does for
    any ROOT: /var/db/pkg, CONTENTS and config-protect state are real."""
    eroot = root / str(prefix.root).lstrip("/")
    write_atomic(eroot / "var/lib/portage/world", world)
    prefix.run(
        "emerge",
        merge_argv(),
        extra_env={"ROOT": str(root), "PKGDIR": str(pkgdir)},
        log_path=log_path,
    )


def pack_argv(root: Path, out: Path) -> list[str]:
    return [
        "tar",
        "--create",
        f"--file={out}",
        *TAR_COMMON,
        "--format=posix",
        "--sort=name",
        "--use-compress-program=zstd -T0 -6",
        f"--directory={root}",
        ".",
    ]


def build_image(
    merge: Callable[[Path], None],
    *,
    out_dir: Path,
    key: KeyInfo,
    work: Path,
    profile: str = "",
    snapshot: str = "",
    chunk_size: int = DEFAULT_CHUNK,
) -> ImageFiles:
    """Merge (merge(empty_root) installs the system), pack, describe and sign an image into
    out_dir (complete files, or none)."""
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    merge(root)
    final = files_in(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_image = work / IMAGE_NAME
    run(pack_argv(root, tmp_image), timeout=3600)
    with open(tmp_image, "rb") as fh:
        manifest = describe(
            fh, IMAGE_NAME, chunk_size=chunk_size, profile=profile, snapshot=snapshot
        )
    tmp_manifest = work / final.manifest.name
    tmp_manifest.write_text(manifest.render())
    tmp_sig = work / final.signature.name
    tmp_sig.unlink(missing_ok=True)
    run(
        gpg_argv(
            key.sign_home,
            "--batch",
            "--yes",
            "--local-user",
            key.fingerprint,
            "--armor",
            "--detach-sign",
            "--output",
            str(tmp_sig),
            str(tmp_manifest),
        )
    )
    # the image first, the signed manifest last: a reader that sees the signature sees it all
    for tmp, dst in (
        (tmp_image, final.image),
        (tmp_manifest, final.manifest),
        (tmp_sig, final.signature),
    ):
        os.replace(tmp, dst)
    shutil.rmtree(root)
    return final
