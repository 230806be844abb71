"""`provision demo`: the main job on the bundled demo profiles (grows with the project)."""

from __future__ import annotations

import argparse
from typing import Any

from provision.cli import Context
from provision.portage.render import BuildContext, render_make_conf, render_world
from provision.profiles import ProfileSet


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled demo profiles")
    p.set_defaults(func=cmd_demo)


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    profiles = ProfileSet(ctx.profiles_dir)
    for profile in profiles:
        print(f"== profile {profile.name}: {profile.description}")
        print(f"-- make.conf\n{render_make_conf(profile, BuildContext())}", end="")
        print(f"-- world\n{render_world(profile)}", end="")
    print(f"{len(profiles.names())} profiles valid")
    return 0
