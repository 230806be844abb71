"""`provision` command line.  Commands live in provision/commands/*.py, each with register()."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

import provision.commands as commands
from provision.commands import Context
from provision.errors import ProvisionError

log = logging.getLogger("provision")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit code 2, no traceback.
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="provision", description="Fleet provisioning for Gentoo.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("PROVISION_DATA_DIR", "var")),
        help="where the server keeps its state (default: ./var, or $PROVISION_DATA_DIR)",
    )
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=Path(os.environ.get("PROVISION_PROFILES", "profiles")),
        help="directory of profile TOML files (default: ./profiles, or $PROVISION_PROFILES)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"provision.commands.{info.name}")
        module.register(sub)
    return parser


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def absolute_paths(args: argparse.Namespace) -> argparse.Namespace:
    """Every path the command line took, made absolute once, here at the edge (and normalised:
    no `..`).  Nothing below depends on the working directory: a relative data dir once made
    Portage's make.profile link inside a build root point nowhere."""
    for key, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, key, Path(os.path.abspath(value)))
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
            setattr(args, key, [Path(os.path.abspath(v)) for v in value])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:  # names on the command line are built by provision.names (argparse `type=`)
        args = absolute_paths(parser.parse_args(argv))
    except ProvisionError as exc:
        print(f"provision: error: {exc}", file=sys.stderr)
        return exc.exit_code
    setup_logging(args.verbose)
    ctx = Context(
        data_dir=args.data_dir,
        profiles_dir=args.profiles_dir,
        verbose=args.verbose,
        invoke=main,
    )
    try:
        rc: int = args.func(ctx, args)
    except ProvisionError as exc:
        print(f"provision: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("provision: interrupted", file=sys.stderr)
        return 130
    return rc
