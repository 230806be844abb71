"""`provision key [--create | --import FILE | --export]`: the server's package-signing key."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.signing import create_key, export_public_key, import_key, load_key
from provision.snapshots.layout import DataLayout


def register(sub: Any) -> None:
    p = sub.add_parser("key", help="the package-signing key (show, create, import, export)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--create", action="store_true", help="make a new key (first run does this)")
    g.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar="SECRET.asc",
        help="bring your own passphrase-less secret key",
    )
    g.add_argument("--export", action="store_true", help="print the public key (for clients)")
    p.set_defaults(func=cmd_key)


def cmd_key(ctx: Context, args: argparse.Namespace) -> int:
    keys = DataLayout(ctx.data_dir).keys
    if args.create:
        info = create_key(keys)
    elif args.import_file:
        info = import_key(keys, args.import_file)
    else:
        info = load_key(keys)
        if args.export:
            print(export_public_key(info), end="")
            return 0
    print(f"fingerprint: {info.fingerprint}")
    print(f"uid:         {info.uid}")
    print(f"sign home:   {info.sign_home}")
    print(f"verify home: {info.verify_home}")
    return 0
