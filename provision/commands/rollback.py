"""`provision rollback PROFILE [SNAPSHOT]`: serve an older snapshot and hold the profile."""

from __future__ import annotations

import argparse
from typing import Any

from provision.builder import hold
from provision.commands import Context
from provision.names import ProfileName, SnapshotId
from provision.profiles import ProfileSet
from provision.snapshots.layout import DataLayout
from provision.snapshots.publish import rollback
from provision.snapshots.read import list_snapshots


def register(sub: Any) -> None:
    p = sub.add_parser("rollback", help="make an older published snapshot current")
    p.add_argument("profile", type=ProfileName)
    p.add_argument(
        "snapshot",
        nargs="?",
        default=None,  # argparse would build a SnapshotId from a string default: not ""
        type=SnapshotId,
        help="default: the one before current",
    )
    p.add_argument("--list", action="store_true", help="list the snapshots instead")
    p.set_defaults(func=cmd_rollback)


def cmd_rollback(ctx: Context, args: argparse.Namespace) -> int:
    ProfileSet(ctx.profiles_dir).path_of(args.profile)
    layout = DataLayout(ctx.data_dir)
    if args.list:
        for sid in list_snapshots(layout, args.profile):
            print(sid)
        return 0
    sid = rollback(layout, args.profile, args.snapshot or "")
    hold(ctx.data_dir, args.profile, f"rolled back to {sid} by the admin")
    print(
        f"{args.profile}: current -> {sid} "
        f"(held; `provision build --trigger {args.profile}` resumes)"
    )
    return 0
