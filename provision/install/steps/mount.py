"""Mount the new filesystems under the target root, parents first."""

from __future__ import annotations

import shlex

from provision.install.context import InstallContext
from provision.install.plan import partition_device
from provision.install.probe import mounted_at

NAME = "mount"


def argv(ctx: InstallContext) -> list[list[str]]:
    return [
        ["mount", partition_device(ctx.plan.devnode, p.number), str(ctx.path(p.mountpoint))]
        for p in ctx.plan.mounts
    ]


def describe(ctx: InstallContext) -> list[str]:
    return [shlex.join(a) for a in argv(ctx)]


def is_done(ctx: InstallContext) -> bool:
    return all(mounted_at(ctx.path(p.mountpoint)) for p in ctx.plan.mounts)


def apply(ctx: InstallContext) -> None:
    ctx.target.mkdir(parents=True, exist_ok=True)
    for part, cmd in zip(ctx.plan.mounts, argv(ctx), strict=True):
        where = ctx.path(part.mountpoint)
        if mounted_at(where):
            continue
        where.mkdir(parents=True, exist_ok=True)
        ctx.sh(cmd)
