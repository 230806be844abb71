"""`provision doctor [--for FEATURE...]`: is everything each feature needs on this server?

Prints every program, file and module per feature (provision.doctor.NEEDS) with where it was
found, or the Gentoo and Debian packages that provide it, then the data dir's permissions.
Exit 1 when a part of a required feature is missing or the data dir is unusable; `--for`
chooses what is required (default: server = core + build; `demo`, `demo-vm`, `all`, or single
features).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.doctor import (
    GROUPS,
    NEEDS,
    DirFacts,
    Feature,
    Kind,
    Need,
    check_data_dir,
    evaluate,
    failures,
    features_for,
    render,
)
from provision.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the programs, files and data dir each feature needs")
    choices = [*GROUPS, *(f.value for f in Feature if f.value not in GROUPS)]
    p.add_argument(
        "--for",
        dest="features",
        action="append",
        metavar="FEATURE",
        help=f"required (repeatable): {', '.join(choices)} (default: server)",
    )
    p.set_defaults(func=cmd_doctor)


def probe(need: Need) -> str:
    """Where the need is on this machine, "" when it is not (the only part that looks)."""
    for name in need.names:
        if need.kind is Kind.PROGRAM:
            found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
            if found:
                return found
        elif need.kind is Kind.FILE:
            matches = sorted(glob.glob(name)) if "*" in name else [name] * Path(name).exists()
            if matches:
                return matches[-1]
        else:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                return spec.origin or name
    return ""


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except OSError:
        return None


def data_dir_facts(data_dir: Path) -> DirFacts:
    mode = _mode(data_dir)
    existing = data_dir if mode is not None else next(
        (p for p in data_dir.parents if p.exists()), Path("/")
    )  # fmt: skip
    return DirFacts(
        path=str(data_dir),
        mode=mode,
        writable=os.access(existing, os.W_OK | os.X_OK),
        sign_mode=_mode(data_dir / "keys" / "sign"),
        config_mode=_mode(data_dir / "server.toml"),
    )


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    try:
        required = features_for(args.features or ["server"])
    except ValueError as exc:
        raise ConfigError("--for", str(exc)) from None
    findings = evaluate(NEEDS, probe)
    for line in render(findings, required):
        print(line)
    problems = check_data_dir(data_dir_facts(ctx.data_dir))
    print(f"data dir {ctx.data_dir}: " + ("ok" if not problems else "PROBLEMS"))
    for problem in problems:
        print(f"  {problem}")
    missing = failures(findings, required)
    wanted = ", ".join(sorted(args.features or ["server"]))
    if missing or problems:
        names = ", ".join(f.need.what for f in missing)
        what = [f"missing for {wanted}: {names}"] if missing else []
        what += ["the data dir is not usable"] if problems else []
        print(f"provision doctor: {'; '.join(what)}", file=sys.stderr)
        return 1
    print(f"provision doctor: everything {wanted} needs is here")
    return 0
