"""`provision mirror --from URL --to DIR [--forever] [--listen ADDR:PORT]`: mirror the
published snapshots of a provision server (or of another mirror), verified, and serve them."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from provision.commands import Context
from provision.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mirror", help="mirror a server's signed snapshots (verified) and serve them"
    )
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="server or mirror")
    p.add_argument("--to", dest="dest", required=True, type=Path, metavar="DIR")
    p.add_argument(
        "--fingerprint",
        default="",
        help="the server key's fingerprint (first run: its key.asc must match it)",
    )
    p.add_argument("--key", type=Path, help="the server's public key file (instead of key.asc)")
    p.add_argument("--forever", action="store_true", help="keep pulling new snapshots")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between pulls")
    p.add_argument("--keep", type=int, default=5, help="snapshots kept per profile")
    p.add_argument("--listen", default="", metavar="ADDR:PORT", help="serve DIR over HTTP")
    p.set_defaults(func=cmd_mirror)


def _key(args: argparse.Namespace, keys: Path) -> Any:
    from provision.mirror import MirrorError, install_key, load_mirror_key

    found = load_mirror_key(keys)
    if found is not None and (
        not args.fingerprint or args.fingerprint.upper() == found.fingerprint
    ):
        return found
    if not args.fingerprint:
        raise ConfigError("--fingerprint", "the first pull needs the server key's fingerprint")
    if args.key:
        armored = args.key.read_text()
    else:
        import urllib.error
        import urllib.request

        url = f"{args.source.rstrip('/')}/key.asc"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                armored = resp.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            raise MirrorError(f"cannot fetch {url}: {exc} (give --key FILE)") from exc
    return install_key(keys, armored, args.fingerprint)


def cmd_mirror(ctx: Context, args: argparse.Namespace) -> int:
    from provision.commands.serve import bind, split_listen
    from provision.mirror import forever, pull

    if not args.source.startswith(("http://", "https://")):
        raise ConfigError("--from", f"{args.source!r} is not an http(s) URL")
    if not 1 <= args.keep <= 1000 or not 0.5 <= args.interval <= 86400:
        raise ConfigError("--keep/--interval", "out of range")
    dest = args.dest.absolute()
    dest.mkdir(parents=True, exist_ok=True)
    key = _key(args, dest / "keys")
    if not args.forever:
        for item in pull(args.source, dest, key, keep=args.keep):
            print(f"mirror: {item} is current")
        return 0
    stop = threading.Event()
    server = None
    if args.listen:
        import waitress

        from provision.server.mirror_app import create_mirror_app

        host, port = split_listen(args.listen)
        sock = bind(host, port)
        server = waitress.create_server(
            create_mirror_app(dest), sockets=[sock], threads=8, ident="provision-mirror"
        )
        threading.Thread(target=server.run, name="mirror-http", daemon=True).start()
        print(f"provision: mirror serving {dest} on http://{host}:{sock.getsockname()[1]}/")

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"provision: mirroring {args.source} into {dest} every {args.interval:g} s", flush=True)
    try:
        forever(
            args.source,
            dest,
            key,
            interval=args.interval,
            stop=stop,
            keep=args.keep,
            report=lambda line: print(line, flush=True),
        )
    finally:
        if server is not None:
            server.close()
    return 0
