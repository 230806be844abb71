"""The install stage: the stage tarball a profile's machines unpack before its packages.

For a profile built on a `stage` root, the stage3 it was built in is also what its machines
start from (the packages and the system image were made against it).  After each publication
the builder puts it where the installer API serves it, beside a signed checksum:

    install/<profile>/stage.tar.<xz|zst|gz>          a copy of the build root's tarball
    install/<profile>/stage.tar.<ext>.sha512         sha512sum format
    install/<profile>/stage.tar.<ext>.sha512.asc     detached signature by the server's key
    install/<profile>/.stage-source                  which tarball (path, size, mtime) that is

Unchanged source: nothing is done.  The installer verifies the signature, then the hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import atomic_output, copy_atomic, write_atomic
from provision.run import run
from provision.signing import KeyInfo, gpg_argv
from provision.snapshots.layout import DataLayout

SUFFIXES = (".tar.xz", ".tar.zst", ".tar.gz", ".tar")  # the names the installer API serves
SOURCE_STAMP = ".stage-source"


def install_stage_name(tarball: Path) -> str:
    """Pure: stage.tar.<ext> after the tarball's own compression."""
    for suffix in SUFFIXES:
        if tarball.name.endswith(suffix):
            return f"stage{suffix}"
    raise ConfigError(str(tarball), f"not a stage tarball name (ends in one of {SUFFIXES})")


def source_tag(tarball: Path) -> str:
    st = tarball.stat()
    return f"{tarball.resolve()} {st.st_size} {st.st_mtime_ns}\n"


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_install_stage(layout: DataLayout, profile: str, tarball: Path, key: KeyInfo) -> Path:
    """Copy, checksum and sign tarball as the profile's install stage (skipped when the same
    tarball is already there); returns the published stage's path."""
    name = install_stage_name(tarball)
    directory = layout.install_dir(profile)
    dest = directory / name
    sums = directory / f"{name}.sha512"
    signature = directory / f"{name}.sha512.asc"
    stamp = directory / SOURCE_STAMP
    tag = source_tag(tarball)
    if signature.is_file() and stamp.is_file() and stamp.read_text() == tag:
        return dest
    directory.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    for suffix in SUFFIXES:  # another compression from before would be served first
        if f"stage{suffix}" != name:
            for end in ("", ".sha512", ".sha512.asc"):
                (directory / f"stage{suffix}{end}").unlink(missing_ok=True)
    copy_atomic(tarball, dest, 0o644)
    write_atomic(sums, f"{sha512_of(dest)}  {name}\n")
    with atomic_output(signature) as tmp:
        run(gpg_argv(key.sign_home, "--yes", "--armor", "--detach-sign", "--output", str(tmp),
                     str(sums)))  # fmt: skip
    write_atomic(stamp, tag)
    return dest
