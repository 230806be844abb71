"""`provision worker`: run this machine as a build worker of a provision server's farm."""

from __future__ import annotations

import argparse
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

from provision.builder.settings import check_broker
from provision.commands import Context
from provision.errors import ConfigError

RATE = re.compile(r"([0-9]+)([kKmMgG]?)\Z")


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="build passes for a provision server (build farm)")
    p.add_argument("--broker", required=True, help="the Celery broker: redis://HOST:6379/0")
    p.add_argument("--server", required=True, help="the provision server's URL")
    p.add_argument(
        "--token",
        default="",
        help="this worker's token (`provision worker-token create NAME` on the server); "
        "or $PROVISION_WORKER_TOKEN, or --token-file",
    )
    p.add_argument("--token-file", type=Path, help="read the token from this file")
    p.add_argument(
        "--data-dir",
        dest="worker_data_dir",
        type=Path,
        default=None,
        help="where the warm build roots live (default: the global --data-dir)",
    )
    p.add_argument("--profiles", default="", help="P1,P2: only these profiles (default: all)")
    p.add_argument("--concurrency", type=int, default=1, help="passes at once (default 1)")
    p.add_argument(
        "--upload-limit", default="0", help="upload bandwidth cap in bytes/s (e.g. 20M; 0: none)"
    )
    p.set_defaults(func=cmd_worker)


def parse_rate(text: str) -> int:
    m = RATE.match(text.strip())
    if not m:
        raise ConfigError("--upload-limit", f"{text!r} is not a rate (e.g. 500k, 20M)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * scale


def token_of(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("PROVISION_WORKER_TOKEN", "")
    if args.token_file:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError("--token-file", f"cannot read {args.token_file}: {exc}") from exc
    if not token:
        raise ConfigError("--token", "a worker token is required (--token, --token-file)")
    return token


def cmd_worker(ctx: Context, args: argparse.Namespace) -> int:
    from provision.farm.model import profile_name
    from provision.farm.worker import WorkerConfig, start

    if not 1 <= args.concurrency <= 64:
        raise ConfigError("--concurrency", "expected 1..64")
    profiles = tuple(profile_name(p) for p in args.profiles.split(",") if p.strip())
    if not args.server.startswith(("http://", "https://")):
        raise ConfigError("--server", f"{args.server!r} is not an http(s) URL")
    data_dir = (args.worker_data_dir or ctx.data_dir).absolute()
    cfg = WorkerConfig(
        server=args.server,
        token=token_of(args),
        data_dir=data_dir,
        profiles=profiles,
        upload_limit=parse_rate(args.upload_limit),
    )
    logging.getLogger("provision").setLevel(logging.INFO)
    try:
        from celery.exceptions import SecurityWarning
    except ImportError as exc:
        raise ConfigError(
            "worker", "the worker needs Celery: pip install 'provision[farm]'"
        ) from exc
    if os.geteuid() == 0:
        # Celery warns about root; the worker accepts JSON messages only (never pickle), and
        # stage roots need root for bubblewrap.  Said once here instead.
        warnings.filterwarnings("ignore", category=SecurityWarning)
        print("provision: the worker runs as root (JSON messages only)", flush=True)
    return start(cfg, check_broker(args.broker), args.concurrency)
