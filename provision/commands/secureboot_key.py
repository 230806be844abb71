"""`provision secureboot-key [--create | --import KEY.pem CERT.pem | --export [--der]]`: the
server's Secure Boot signing key (kernels, the installed systems' GRUB).  See docs/iso.md
("Secure Boot") for enrolling its certificate on real machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.secureboot import key as sbkey
from provision.snapshots.layout import DataLayout


def register(sub: Any) -> None:
    p = sub.add_parser(
        "secureboot-key", help="the Secure Boot signing key (show, create, import, export)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--create", action="store_true", help="make a new key (first use does this)")
    g.add_argument(
        "--import",
        dest="import_files",
        nargs=2,
        type=Path,
        metavar=("KEY.pem", "CERT.pem"),
        help="bring your own unencrypted RSA key and its certificate",
    )
    g.add_argument("--export", action="store_true", help="print the certificate (PEM)")
    p.add_argument("--der", action="store_true", help="with --export: DER bytes (for mokutil)")
    p.set_defaults(func=cmd_secureboot_key)


def cmd_secureboot_key(ctx: Context, args: argparse.Namespace) -> int:
    keys = DataLayout(ctx.data_dir).keys
    if args.create:
        made = sbkey.create(keys)
    elif args.import_files:
        made = sbkey.import_key(keys, *args.import_files)
    else:
        made = sbkey.load(keys)
        if args.export:
            if args.der:
                sys.stdout.buffer.write(made.der.read_bytes())
            else:
                print(made.cert.read_text(), end="")
            return 0
    print(f"subject:     {sbkey.subject_of(made).removeprefix('subject=')}")
    print(f"sha256:      {sbkey.fingerprint(made)}")
    print(f"private key: {made.key} (0600)")
    print(f"certificate: {made.cert} (PEM), {made.der} (DER, for mokutil --import)")
    return 0
