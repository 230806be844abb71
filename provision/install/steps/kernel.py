"""The kernel from the binhost: emerge the profile's kernel package, then find its image."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from provision.errors import InstallError
from provision.install.context import InstallContext
from provision.install.render import kernel_version
from provision.install.steps.packages import chroot_argv, emerge_argv, run_emerge

NAME = "kernel"


def kernel_images(boot: Path) -> list[Path]:
    """Kernel images in a /boot directory, newest version first."""
    found = [p for p in boot.glob("*") if p.is_file() and kernel_version(p.name)]
    return sorted(found, key=lambda p: _version_key(kernel_version(p.name)), reverse=True)


def _version_key(version: str) -> list[tuple[int, str]]:
    return [(int(t), "") if t.isdigit() else (-1, t) for t in re.split(r"[.-]", version)]


def installed(vdb: Path, atom: str) -> bool:
    """Is cat/pn (a plain atom) in this package database (e.g. put there by the image)?"""
    category, _, name = atom.partition("/")
    pattern = re.compile(rf"^{re.escape(name)}-[0-9]")
    where = vdb / category
    return where.is_dir() and any(pattern.match(p.name) for p in where.iterdir())


def describe(ctx: InstallContext) -> list[str]:
    pkg = ctx.config.profile.kernel.package
    out = []
    if pkg:
        out.append(shlex.join(chroot_argv(str(ctx.target), emerge_argv([pkg]))))
    out.append(f"check: a kernel image (vmlinuz-*, kernel-*) in {ctx.path('/boot')}")
    return out


def apply(ctx: InstallContext) -> None:
    pkg = ctx.config.profile.kernel.package
    if pkg and installed(ctx.path("/var/db/pkg"), pkg):
        ctx.note(f"kernel: {pkg} is already installed (the system image); nothing to emerge")
    elif pkg:
        run_emerge(ctx, [pkg])
    if not kernel_images(ctx.path("/boot")):
        what = f"the kernel package {pkg}" if pkg else "the stage (the profile names no kernel)"
        raise InstallError(f"no kernel image in {ctx.path('/boot')} after installing {what}")
