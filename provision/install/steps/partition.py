"""Write the planned partition table (sfdisk), after clearing old signatures."""

from __future__ import annotations

import shlex

from provision.install.context import InstallContext
from provision.install.plan import render_sfdisk
from provision.install.probe import read_table, settle_partitions, table_matches

NAME = "partition"


def argv(ctx: InstallContext) -> list[list[str]]:
    dev = ctx.plan.devnode
    return [
        ["wipefs", "--all", "--force", dev],
        ["sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions", "always", dev],
    ]


def describe(ctx: InstallContext) -> list[str]:
    cmds = [shlex.join(a) for a in argv(ctx)]
    script = render_sfdisk(ctx.plan).rstrip("\n").replace("\n", "\n    ")
    return [cmds[0], f"{cmds[1]} <<EOF\n    {script}\n    EOF"]


def is_done(ctx: InstallContext) -> bool:
    return table_matches(read_table(ctx.plan.devnode), ctx.plan)


def apply(ctx: InstallContext) -> None:
    wipe, sfdisk = argv(ctx)
    ctx.sh(wipe)
    ctx.sh(sfdisk, input=render_sfdisk(ctx.plan))
    settle_partitions(ctx.plan)
