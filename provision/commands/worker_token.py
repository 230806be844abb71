"""`provision worker-token create NAME | revoke NAME | list`: the build farm's worker tokens."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from provision.commands import Context


def register(sub: Any) -> None:
    p = sub.add_parser("worker-token", help="issue, revoke and list build-farm worker tokens")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="a new token for NAME (printed once)")
    create.add_argument("name")
    revoke = actions.add_parser("revoke", help="revoke NAME's token (its passes go elsewhere)")
    revoke.add_argument("name")
    listing = actions.add_parser("list", help="workers, tokens and last heartbeats")
    listing.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_worker_token)


def cmd_worker_token(ctx: Context, args: argparse.Namespace) -> int:
    from provision.farm.model import worker_name
    from provision.farm.store import FarmStore

    store = FarmStore.in_data_dir(ctx.data_dir)
    try:
        if args.action == "create":
            print(store.create_worker(worker_name(args.name)))
        elif args.action == "revoke":
            store.revoke_worker(worker_name(args.name))
            print(f"{args.name}: revoked")
        else:
            rows = store.workers()
            if args.json:
                print(
                    json.dumps(
                        [
                            {
                                "name": w.name,
                                "revoked": w.revoked is not None,
                                "last_seen": w.last_seen or None,
                                "host": w.host,
                                "queues": list(w.queues),
                                "flag": w.flag,
                            }
                            for w in rows
                        ],
                        indent=2,
                    )
                )
            for w in [] if args.json else rows:
                seen = (
                    time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(w.last_seen))
                    if w.last_seen
                    else "never"
                )
                state = "revoked" if w.revoked is not None else "valid"
                flag = f"  FLAGGED: {w.flag}" if w.flag else ""
                print(f"{w.name}: {state}, last heartbeat {seen} {w.host}{flag}".rstrip())
    finally:
        store.close()
    return 0
