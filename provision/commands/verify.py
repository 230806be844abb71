"""`provision verify PROFILE --against URL`: cross-verify this binhost with another builder's.
`provision verify PROFILE --mirror URL`: check a mirror's copy of the current snapshot, byte for
byte and signature by signature."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from provision.commands import Context
from provision.crossverify import Verdict, cross_verify, render_report
from provision.errors import NotFound
from provision.names import ProfileName
from provision.profiles import ProfileSet
from provision.snapshots.read import current_snapshot


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="compare a profile's binhost with another builder's")
    p.add_argument("profile", type=ProfileName)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--against", metavar="URL", help="the other binhost's URL")
    what.add_argument("--mirror", metavar="URL", help="a mirror of this server (provision mirror)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    """Exit 0 when every comparable package agrees, 1 when any differs (like diff), 2 on errors."""
    ProfileSet(ctx.profiles_dir).get(args.profile)  # unknown profile: clear error
    snapshot = current_snapshot(ctx.data_dir, args.profile)
    if snapshot is None:
        raise NotFound(f"profile {args.profile!r} has no published snapshot (run provision build)")
    if args.mirror:
        return _mirror(ctx, args, snapshot)
    results = cross_verify(snapshot / "binhost", args.against)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(render_report(results), end="")
    return 1 if any(r.verdict is Verdict.DIFFER for r in results) else 0


def _mirror(ctx: Context, args: argparse.Namespace, snapshot: Any) -> int:
    from provision.mirror import Finding, MirrorKey, audit, render_audit
    from provision.signing import load_key
    from provision.snapshots.layout import DataLayout

    info = load_key(DataLayout(ctx.data_dir).keys)
    results = audit(
        snapshot, args.mirror, args.profile, MirrorKey(info.verify_home, info.fingerprint)
    )
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(render_audit(results, args.mirror, snapshot.name), end="")
    return 1 if any(r.finding is not Finding.OK for r in results) else 0
