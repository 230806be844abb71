"""The profile's system image (issue 12), the default way the packages get onto the disk.

The image (system.tar.zst, made by the builder from the same signed binhost) is streamed from
the server (`.../image/<profile>/current`, pinned to one snapshot) or read from an offline
medium directory, verified chunk by chunk against its signed manifest on the way into GNU tar,
extracted into a staging directory in the target and merged into place only when complete
(the pieces of provision.image.unpack; the merge goes through the target's symlinks to
directories, /sbin -> usr/sbin in a merged-/usr stage, as Portage merges).  A corrupt or badly
signed image fails the step with nothing written to the target.  No image (none offered, 404,
missing files) is not an error: nothing is written and the `packages` step installs per
package (`emerge --getbinpkgonly`).

After the image, a record (var/lib/provision/image.json) tells the `packages` step to emerge
only what the host asks for beyond the image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.errors import InstallError
from provision.fsutil import write_atomic
from provision.image.manifest import ImageError
from provision.image.pack import IMAGE_NAME
from provision.image.unpack import STAGING, move_into_place, stage_image
from provision.install.context import InstallContext
from provision.install.fetch import exists

NAME = "image"
RECORD = "var/lib/provision/image.json"
SIGNED = f"{IMAGE_NAME}.manifest.asc"  # published last: its presence means the image is whole
NONE = "none"  # provision.image=none / --image-source none: always install per package


@dataclass(frozen=True)
class ImageChoice:
    source: str  # URL or directory ("" when there is none)
    available: bool
    reason: str = ""  # why not, when not available


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def signature_location(source: str) -> str:
    """Where the signed manifest of the image at `source` is (pure)."""
    return f"{source.rstrip('/')}/{SIGNED}" if is_url(source) else str(Path(source) / SIGNED)


def choose(source: str, probe: Callable[[str], bool] | None = None) -> ImageChoice:
    """Image or per-package install: looks for the signed manifest (HEAD for a URL, the file
    for a directory).  A server that cannot be reached raises (that is no reason to fall back:
    the per-package path needs the same server)."""
    if not source or source == NONE:
        return ImageChoice("", False, "the server offers no system image for this profile")
    probe = probe or _probe
    if probe(signature_location(source)):
        return ImageChoice(source, True)
    return ImageChoice(source, False, f"no system image at {source} ({SIGNED} missing)")


def _probe(location: str) -> bool:
    return exists(location) if is_url(location) else Path(location).is_file()


def choice_of(ctx: InstallContext) -> ImageChoice:
    return choose(ctx.config.sources.image_url)


def describe(ctx: InstallContext) -> list[str]:
    try:
        found = choice_of(ctx)
    except InstallError as exc:
        return [f"cannot check for a system image: {exc} (the install would stop here)"]
    if not found.available:
        return [f"no image: {found.reason}", "-> fallback: the packages step emerges per package"]
    return [
        f"stream {found.source}/{IMAGE_NAME} into {ctx.target} (path taken: image)",
        f"  verify {SIGNED} with the server's key, then every chunk's SHA-256 before tar sees it",
        f"  extract into {ctx.path(STAGING)}, move into place only when complete",
        f"  record {ctx.path(RECORD)}",
    ]


def apply(ctx: InstallContext) -> None:
    found = choice_of(ctx)
    ctx.path(RECORD).unlink(missing_ok=True)
    if not found.available:
        ctx.note(f"image: {found.reason}; installing per package")
        ctx.events.emit("log", NAME, f"{found.reason}: installing per package (emerge)")
        return
    if ctx.keyring is None:
        raise InstallError("no server key: the preflight did not fetch key.asc")
    verify_home = ctx.workdir / "image-gnupg"
    ctx.keyring.install_into(verify_home)
    ctx.note(f"image: stream {found.source}/{IMAGE_NAME} into {ctx.target}")
    try:
        manifest = stage_image(found.source, ctx.target, verify_home)
    except ImageError as exc:
        raise InstallError(
            f"system image refused, nothing of it was written to the target: {exc}"
        ) from exc
    try:
        move_into_place(ctx.path(STAGING), ctx.target)
    except ImageError as exc:
        raise InstallError(str(exc)) from exc
    record = {
        "source": found.source,
        "profile": manifest.profile,
        "snapshot": manifest.snapshot,
        "size": manifest.size,
        "sha512": manifest.sha512,
    }
    write_atomic(ctx.path(RECORD), json.dumps(record, indent=1, sort_keys=True) + "\n")
    ctx.events.emit(
        "log",
        NAME,
        f"installed the system image of {manifest.profile} (snapshot {manifest.snapshot}, "
        f"{manifest.size >> 10} KiB, verified)",
    )


def installed(target: Path) -> dict[str, object] | None:
    """The record of the image installed into target, or None (per-package install)."""
    path = target / RECORD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise InstallError(f"{path}: unreadable image record: {exc}") from exc
    return data if isinstance(data, dict) else None
