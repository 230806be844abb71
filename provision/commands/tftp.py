"""`provision tftp`: the read-only TFTP server for network boot, on its own.

`provision tftp --listen 0.0.0.0:69 --root DIR [--populate --base-url URL]`.  Every request is
logged (who fetched what) on stderr and, with --log FILE, appended to that file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.commands.serve import split_listen
from provision.errors import ConfigError
from provision.pxe import bootloaders, layout
from provision.pxe.tftp import HANDSHAKE_TIMEOUT, MAX_SESSIONS, Fetch, TftpServer, serve_processes
from provision.secureboot.files import live_chain

log = logging.getLogger("provision.tftp")


def register(sub: Any) -> None:
    p = sub.add_parser("tftp", help="run the read-only TFTP server for network boot")
    p.add_argument("--listen", default="0.0.0.0:69", help="ADDR:PORT (default 0.0.0.0:69)")
    p.add_argument("--root", type=Path, default=None, help="TFTP root (default DATA_DIR/tftp)")
    p.add_argument(
        "--populate",
        action="store_true",
        help="first copy iPXE (BIOS and UEFI) and boot.ipxe into the root (needs --base-url)",
    )
    p.add_argument("--base-url", default="", help="URL clients use to reach the HTTP server")
    p.add_argument("--uefi-loader", default="ipxe.efi", choices=sorted(bootloaders.UEFI_LOADERS))
    p.add_argument("--pxelinux", action="store_true", help="also lay out pxelinux (BIOS)")
    p.add_argument(
        "--secure-boot",
        action="store_true",
        help="also lay out the Secure Boot chain (shim, Debian's signed network GRUB); its "
        "per-host configs come from `provision serve --tftp`",
    )
    p.add_argument("--log", type=Path, default=None, help="append the fetch log to this file")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=MAX_SESSIONS,
        help=f"transfers at once (default {MAX_SESSIONS}; fewer under a low open-files limit)",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=HANDSHAKE_TIMEOUT,
        help="seconds a new transfer may wait for the client's first answer before another "
        f"request may take its place (default {HANDSHAKE_TIMEOUT:g})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=min(4, 2 * (os.cpu_count() or 1)),
        help="processes sharing the port (SO_REUSEPORT; default: two per core, at most 4: "
        "they mostly wait for clients, and more of them get more CPU time under load)",
    )
    p.set_defaults(func=cmd_tftp)


def populate(
    root: Path,
    base_url: str,
    uefi: str = "ipxe.efi",
    pxelinux: bool = False,
    secure_boot: bool = False,
) -> list[str]:
    """Find the bootloaders and write the TFTP tree; returns the names written."""
    if not base_url:
        raise ConfigError("--base-url", "needed to write boot.ipxe (e.g. http://10.0.0.1:8080)")
    found = bootloaders.find_all(uefi=uefi, pxelinux=pxelinux)
    lkrn = layout.find_ipxe_lkrn() if pxelinux else None
    chain = live_chain(network=True) if secure_boot else None
    plan = layout.plan_tree(found, base_url, ipxe_lkrn=lkrn, secure_boot=chain)
    return layout.write_tree(root, plan)


def cmd_tftp(ctx: Context, args: argparse.Namespace) -> int:
    host, port = split_listen(args.listen)
    root: Path = args.root or ctx.data_dir / "tftp"
    if args.populate:
        root.mkdir(parents=True, exist_ok=True)
        written = populate(root, args.base_url, args.uefi_loader, args.pxelinux, args.secure_boot)
        for name in written:
            print(f"provision: wrote {root / name}", flush=True)
    log.setLevel(logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    if ctx.verbose < 2:
        logging.getLogger("tftpy").setLevel(logging.CRITICAL)  # our fetch log says it all
    sink = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115

    def on_fetch(fetch: Fetch) -> None:
        if sink is not None:
            sink.write(f"{fetch.time:.3f} {fetch.line()}\n")

    if not 1 <= args.workers <= 64:
        raise ConfigError("--workers", "expected 1 .. 64")
    workers = args.workers
    if not root.is_dir():
        raise ConfigError(str(root), "TFTP root is not a directory")

    def make(reuse_port: bool) -> TftpServer:
        return TftpServer(
            root,
            on_fetch=on_fetch,
            max_sessions=max(1, args.max_sessions // workers),
            handshake_timeout=args.handshake_timeout,
            reuse_port=reuse_port,
        )

    def ready(bound: tuple[str, int]) -> None:
        print(
            f"provision: TFTP serving {root.resolve()} on {bound[0]}:{bound[1]}"
            f" ({workers} process{'es' if workers > 1 else ''})",
            flush=True,
        )

    try:
        serve_processes(make, host, port, workers, ready)
    except KeyboardInterrupt:
        raise
    finally:
        if sink is not None:
            sink.close()
    return 0
