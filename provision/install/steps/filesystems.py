"""Make the filesystems (mkfs.* / mkswap) with the planned labels and UUIDs."""

from __future__ import annotations

import shlex

from provision.install.context import InstallContext
from provision.install.plan import PlannedPartition, mkfs_argv, partition_device
from provision.install.probe import blkid, settle_partitions
from provision.profiles.model import Filesystem

NAME = "filesystems"
BLKID_TYPE: dict[Filesystem | None, str] = {fs: fs.value for fs in Filesystem}  # same names


def _parts(ctx: InstallContext) -> list[PlannedPartition]:
    return [p for p in ctx.plan.partitions if p.filesystem is not None]


def describe(ctx: InstallContext) -> list[str]:
    return [
        shlex.join(mkfs_argv(p, partition_device(ctx.plan.devnode, p.number))) for p in _parts(ctx)
    ]


def _made(ctx: InstallContext, part: PlannedPartition) -> bool:
    found = blkid(partition_device(ctx.plan.devnode, part.number))
    return (
        found.get("TYPE") == BLKID_TYPE[part.filesystem]
        and found.get("UUID", "").upper() == part.uuid.upper()
    )


def is_done(ctx: InstallContext) -> bool:
    settle_partitions(ctx.plan)
    return all(_made(ctx, p) for p in _parts(ctx))


def apply(ctx: InstallContext) -> None:
    for part in _parts(ctx):
        if not _made(ctx, part):
            ctx.sh(mkfs_argv(part, partition_device(ctx.plan.devnode, part.number)))
