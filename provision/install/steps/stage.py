"""Unpack the profile's stage tarball: stream it to the target disk, check its SHA-512
(from the checksum file whose signature the preflight verified), then unpack."""

from __future__ import annotations

import shlex

from provision.errors import InstallError
from provision.install.context import InstallContext
from provision.install.fetch import download

NAME = "stage"
DOWNLOAD = "var/tmp/provision-stage"


def tar_argv(ctx: InstallContext) -> list[str]:
    return [
        "tar",
        "--extract",
        "--preserve-permissions",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*.*",
        "--file",
        str(ctx.path(DOWNLOAD)),
        "--directory",
        str(ctx.target),
    ]


def describe(ctx: InstallContext) -> list[str]:
    url = ctx.config.sources.stage_url
    return [
        f"download {url} -> {ctx.path(DOWNLOAD)} (SHA-512 {ctx.stage_sha512[:16]}..., "
        "from the signed checksum file)",
        shlex.join(tar_argv(ctx)),
    ]


def apply(ctx: InstallContext) -> None:
    url = ctx.config.sources.stage_url
    dest = ctx.path(DOWNLOAD)
    ctx.note(f"download {url}")
    got = download(url, dest)
    if got != ctx.stage_sha512:
        dest.unlink(missing_ok=True)
        raise InstallError(
            f"{url}: SHA-512 mismatch (got {got[:16]}..., the signed checksum says "
            f"{ctx.stage_sha512[:16]}...): refusing to unpack"
        )
    ctx.sh(tar_argv(ctx))
    dest.unlink()
