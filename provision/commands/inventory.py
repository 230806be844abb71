"""`provision inventory`: this machine's hardware, as the live environment reports it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from provision.commands import Context
from provision.install.inventory import collect


def register(sub: Any) -> None:
    p = sub.add_parser("inventory", help="print this machine's hardware report (JSON)")
    p.set_defaults(func=cmd_inventory)


def cmd_inventory(ctx: Context, args: argparse.Namespace) -> int:
    print(json.dumps(collect().to_doc(), indent=2))
    return 0
