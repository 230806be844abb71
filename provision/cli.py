"""`provision` command line.  Commands live in provision/commands/*.py, each with register()."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import provision.commands as commands
from provision.commands import COMMANDS, Context
from provision.errors import ProvisionError

log = logging.getLogger("provision")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit code 2, no traceback.
        self.exit(2, f"{self.prog}: error: {message}\n")


# global options that take a value (the command is the first other positional argument)
_VALUED = ("--data-dir", "--profiles-dir")


def wanted_command(argv: Sequence[str]) -> str | None:
    """The command an argument list names (pure): its first positional argument."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg == "--":
            return None
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: every command is listed with its help (from COMMANDS), and only
    the command argv names is imported to add its arguments (argv None: all of them)."""
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
    wanted = wanted_command(argv) if argv is not None else None
    listed = {c.module for c in COMMANDS.values()}
    for name, command in COMMANDS.items():
        if argv is None or name == wanted:
            importlib.import_module(f"provision.commands.{command.module}").register(sub)
        else:
            sub.add_parser(name, help=command.help, add_help=False)
    for name in unlisted_modules(listed):  # commands not in the table yet: learn by importing
        importlib.import_module(f"provision.commands.{name}").register(sub)
    return parser


def unlisted_modules(listed: set[str]) -> list[str]:
    """Command modules in provision/commands/ that COMMANDS does not name (a directory listing;
    pkgutil would cost more start-up than the listing)."""
    found = {
        entry.name.removesuffix(".py")
        for path in commands.__path__
        for entry in os.scandir(path)
        if entry.name.endswith(".py") and not entry.name.startswith("_")
    }
    return sorted(found - listed)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
