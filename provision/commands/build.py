"""`provision build [PROFILE...] [--forever] [--trigger PROFILE...]`: build and publish binhosts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from provision.builder.builder import Builder
from provision.builder.settings import RootKind, RootSpec, load_settings
from provision.builder.state import Phase, trigger
from provision.commands import Context
from provision.names import ProfileName
from provision.profiles import ProfileSet
from provision.snapshots.layout import DataLayout


def register(sub: Any) -> None:
    p = sub.add_parser("build", help="build, sign and publish the profiles' binhosts")
    p.add_argument(
        "profiles",
        nargs="*",
        metavar="PROFILE",
        type=ProfileName,
        help="default: every profile",
    )
    p.add_argument("--forever", action="store_true", help="keep building: sync interval/trigger")
    p.add_argument(
        "--trigger", action="store_true", help="ask for a pass now (releases a held profile)"
    )
    p.add_argument("--root", choices=("prefix", "stage"), help="build root kind (all profiles)")
    p.add_argument("--stage", type=Path, help="stage tarball for --root stage")
    p.add_argument("--max-passes", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_build)


def cmd_build(ctx: Context, args: argparse.Namespace) -> int:
    profiles = ProfileSet(ctx.profiles_dir)
    settings = load_settings(DataLayout(ctx.data_dir).settings_file)
    if args.root:
        settings = settings.with_root(RootSpec(RootKind(args.root), args.stage))
    if args.trigger:
        names = args.profiles or profiles.names()
        for name in names:
            profiles.path_of(name)  # unknown profile: exit 2
            trigger(ctx.data_dir, name)
            print(f"{name}: triggered")
        return 0
    builder = Builder(ctx.data_dir, profiles, settings)
    if args.forever:
        builder.forever(args.profiles, max_passes=args.max_passes)
        return 0
    rc = 0
    for st in builder.build(args.profiles):
        if st.phase == Phase.HELD:
            rc = 1
            print(f"{st.profile}: held: {st.error}")
            for line in st.advice.splitlines()[1:]:
                print(f"  {line}")
            print(f"  log: {st.log}")
            print(f"  fix it, then: provision build --trigger {st.profile}")
        else:
            print(f"{st.profile}: {st.phase} snapshot {st.snapshot}")
    return rc
