"""`provision profiles list|show|check`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.fleet.fit import CpuRequirement, requirement_of
from provision.fleet.rules import load_rules, rules_path
from provision.names import ProfileName
from provision.portage.render import BuildContext, render_all
from provision.profiles import ProfileSet, load_profile
from provision.profiles.files import NOT_PROFILES


def register(sub: Any) -> None:
    p = sub.add_parser("profiles", help="list, show and check profiles")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    psub.required = True
    ls = psub.add_parser("list", help="list the profiles")
    ls.set_defaults(func=cmd_list)
    show = psub.add_parser("show", help="show one resolved profile")
    show.add_argument("name", type=ProfileName)
    show.add_argument("--render", action="store_true", help="print the Portage files as written")
    show.add_argument("--json", action="store_true", help="the resolved profile as JSON")
    show.set_defaults(func=cmd_show)
    check = psub.add_parser("check", help="validate profile files (default: all)")
    check.add_argument("paths", nargs="*", type=Path)
    check.set_defaults(func=cmd_check)


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    profiles = ProfileSet(ctx.profiles_dir)
    for profile in profiles:
        parent = f" (inherits {profile.inherits})" if profile.inherits else ""
        print(f"{profile.name:20} {profile.description}{parent}")
    return 0


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    profile = ProfileSet(ctx.profiles_dir).get(args.name)
    if args.render:
        for rel, text in render_all(profile, BuildContext()).items():
            print(f"==> {rel} <==")
            print(text, end="" if text.endswith("\n") or not text else "\n")
        return 0
    data = asdict(profile)
    req = requirement_of(profile)
    if args.json:
        data["cpu_requirement"] = {
            "arch": req.arch,
            "level": req.level.short if req.level else "",
            "flags": sorted(req.flags),
            "sources": list(req.sources),
        }
        print(json.dumps(data, indent=2, default=str))
        return 0
    _print_tree(data)
    print(render_requirement(req), end="")
    return 0


def render_requirement(req: CpuRequirement) -> str:
    """What the CPU must have, for `profiles show` (pure)."""
    lines = [f"cpu requirement: {req.summary()}"]
    lines += [f"  from {source}" for source in req.sources]
    lines.append(f"  flags (as /proc/cpuinfo spells them): {' '.join(sorted(req.flags))}")
    return "\n".join(lines) + "\n"


def _print_tree(data: dict[str, Any], indent: int = 0) -> None:
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict) and value:
            print(f"{pad}{key}:")
            _print_tree(value, indent + 1)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
            print(f"{pad}{key}:")
            for item in value:
                print(f"{pad}  -")
                _print_tree(item, indent + 2)
        elif isinstance(value, (list, tuple)):
            print(f"{pad}{key}: {' '.join(map(str, value))}")
        else:
            print(f"{pad}{key}: {value}")


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    """Every profile (its CPU requirement too), then the discovery rules: the first error
    stops with one line and exit code 2."""
    paths = args.paths or sorted(
        p for p in ctx.profiles_dir.glob("*.toml") if p.name not in NOT_PROFILES
    )
    for path in paths:
        if path.name in NOT_PROFILES:
            continue
        req = requirement_of(load_profile(path))
        print(f"{path}: ok (cpu: {req.summary()})")
    if not args.paths or any(p.name in NOT_PROFILES for p in args.paths):
        rules = load_rules(ctx.profiles_dir, ProfileSet(ctx.profiles_dir).names())
        if rules_path(ctx.profiles_dir).is_file():
            print(f"{rules.path}: ok ({len(rules)} rules)")
    return 0
