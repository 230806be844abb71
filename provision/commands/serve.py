"""`provision serve`: the HTTP server (waitress) with every blueprint mounted."""

from __future__ import annotations

import argparse
from typing import Any

from provision.cli import Context
from provision.errors import ConfigError
from provision.server.app import create_app
from provision.server.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the provisioning server")
    p.add_argument("--listen", default="", help="ADDR:PORT to listen on (default 127.0.0.1:8080)")
    p.add_argument("--base-url", default="", help="URL clients use to reach this server")
    p.set_defaults(func=cmd_serve)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("--listen", f"{listen!r} is not ADDR:PORT (e.g. 0.0.0.0:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    settings = load_settings(
        ctx.data_dir, ctx.profiles_dir, listen=args.listen, base_url=args.base_url
    )
    host, port = split_listen(settings.listen)
    app = create_app(settings)
    import waitress

    print(
        f"provision: serving on http://{host}:{port}/ (clients use {settings.base_url})", flush=True
    )
    waitress.serve(app, host=host, port=port, threads=16, ident="provision")
    return 0
