"""`provision status [--json]`: per-profile builder state and what clients are served."""

from __future__ import annotations

import argparse
import json
from typing import Any

from provision.builder.status import profile_status, render_table
from provision.commands import Context
from provision.errors import ConfigError
from provision.names import ProfileName
from provision.profiles.files import profile_names, profile_path
from provision.server.settings import ServerSettings, load_settings
from provision.snapshots.layout import DataLayout


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="builder state and published snapshot per profile")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", type=ProfileName)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--base-url", default="", help="URL clients use (default: from server.toml)")
    p.set_defaults(func=cmd_status)


def base_url_of(ctx: Context, override: str) -> str:
    if override:
        return override
    try:
        return load_settings(ctx.data_dir, ctx.profiles_dir).base_url
    except ConfigError:  # no secret key configured: status does not need one
        return ServerSettings.base_url


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    names = args.profiles
    if names:
        if not ctx.profiles_dir.is_dir():
            raise ConfigError(str(ctx.profiles_dir), "profile directory does not exist")
        for name in names:
            profile_path(ctx.profiles_dir, name)
    else:
        known = profile_names(ctx.profiles_dir) if ctx.profiles_dir.is_dir() else []
        names = sorted(set(known) | set(DataLayout(ctx.data_dir).profiles_built()))
    url = base_url_of(ctx, args.base_url)
    rows = [profile_status(ctx.data_dir, n, url) for n in names]
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(render_table(rows), end="")
    return 0
