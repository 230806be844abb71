"""`provision etc-merge`: settle Portage's ._cfg config updates by the profile's merge policy."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.errors import ConfigError
from provision.etcmerge.archive import restore
from provision.etcmerge.guided import console
from provision.etcmerge.policy import policy_for_target
from provision.etcmerge.report import build_report, post_report, to_json, write_report
from provision.etcmerge.session import apply_safe, prepare, record_installed, run_guided
from provision.etcmerge.target import Target


def register(sub: Any) -> None:
    p = sub.add_parser(
        "etc-merge",
        help="settle ._cfg config file updates by the merge policy",
        description="Decide each pending ._cfgNNNN_ update under CONFIG_PROTECT from three "
        "versions: last shipped (recorded by provision), on disk, and new.",
    )
    p.add_argument("--root", type=Path, default=Path("/"), help="target ROOT (default /)")
    p.add_argument(
        "--eprefix",
        default=os.environ.get("PORTAGE_OVERRIDE_EPREFIX", ""),
        help="target EPREFIX (default: $PORTAGE_OVERRIDE_EPREFIX or none)",
    )
    p.add_argument("--policy", type=Path, help="a profile TOML or a policy TOML")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--non-interactive",
        action="store_const",
        const="non-interactive",
        dest="mode",
        help="apply the safe decisions, report the rest (default without a terminal)",
    )
    mode.add_argument(
        "--guided",
        action="store_const",
        const="guided",
        dest="mode",
        help="ask about each file that needs a decision (default on a terminal)",
    )
    mode.add_argument("--undo", metavar="PATH", help="restore the newest archived version")
    mode.add_argument(
        "--record-baseline",
        action="store_true",
        help="record the protected files as shipped by the installed packages (after install)",
    )
    p.add_argument("--dry-run", action="store_true", help="decide and report, change nothing")
    p.add_argument("--report", type=Path, help="also write the JSON report to this file")
    p.add_argument("--report-url", help="POST the JSON report to this URL")
    p.add_argument("--host", default="", help="host name in the report (default: this host)")
    p.set_defaults(func=cmd_etc_merge)


def cmd_etc_merge(ctx: Context, args: argparse.Namespace) -> int:
    root = args.root.resolve()
    if not root.is_dir():
        raise ConfigError("--root", f"{args.root} is not a directory")
    target = Target(root, args.eprefix)
    if args.undo:
        tpath = _target_path(target, args.undo)
        entry = restore(target, tpath)
        print(f"{tpath}: restored the version archived as {entry.name}")
        return 0
    if args.record_baseline:
        base = record_installed(target)
        print(
            f"recorded {len(base.recorded)} protected files as shipped; "
            f"{len(base.pending)} with pending updates, {len(base.modified)} already modified"
        )
        return 0
    policy, source = policy_for_target(target, args.policy)
    mode = args.mode or ("guided" if sys.stdin.isatty() else "non-interactive")
    prepared = prepare(target, policy, refresh=not args.dry_run)
    if mode == "guided":
        print(f"policy: {source}", flush=True)
        outcomes = run_guided(target, prepared.items, console(), args.dry_run)
    else:
        outcomes = apply_safe(target, prepared.items, args.dry_run)
    report = build_report(
        target, prepared.items, outcomes, mode=mode, host=args.host, dry_run=args.dry_run
    )
    if mode == "non-interactive":
        sys.stdout.write(to_json(report))
    else:
        left = report["pending"]
        rest = f"{len(left)} left for later: {' '.join(left)}" if left else "nothing left"
        print(f"{report['settled']} settled, {rest}")
    if args.report:
        write_report(args.report, report)
    if args.report_url:
        post_report(args.report_url, report)
    return 1 if report["pending"] else 0


def _target_path(target: Target, value: str) -> str:
    """--undo takes the path as the target sees it (/etc/x) or as this host sees it."""
    path = Path(value)
    if path.is_absolute():
        try:
            return target.tpath(path)
        except ValueError:
            pass
    if not value.startswith("/"):
        raise ConfigError(
            "--undo", f"{value!r} is not an absolute path (e.g. /etc/ssh/sshd_config)"
        )
    return value
