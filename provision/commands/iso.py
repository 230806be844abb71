"""`provision iso PROFILE [--host MAC | --hostname NAME] -o FILE.iso`: bootable install media."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.iso.base import BootloaderDirs, UefiChain
from provision.iso.build import IsoRequest, build_iso
from provision.iso.menus import TEMPLATES_DIR
from provision.iso.plan import Progress
from provision.names import HostName, Mac, ProfileName


def register(sub: Any) -> None:
    p = sub.add_parser(
        "iso",
        help="write a bootable install image (CD/DVD and USB, BIOS and UEFI)",
        description="Write a hybrid ISO that boots the live environment and installs PROFILE.",
    )
    p.add_argument("profile", type=ProfileName)
    p.add_argument("-o", "--output", type=Path, required=True, help="the image to write")
    p.add_argument(
        "--host",
        metavar="MAC",
        type=Mac,
        help="a per-host medium: register the host's MAC",
    )
    p.add_argument(
        "--hostname",
        metavar="NAME",
        type=HostName,
        help="the host's name (with or without --host)",
    )
    p.add_argument(
        "--server",
        metavar="URL",
        help="how clients reach this server (default: base_url in DATA_DIR/server.toml)",
    )
    p.add_argument(
        "--public-key",
        type=Path,
        metavar="FILE",
        help="the server's public key (default: DATA_DIR/keys/public.asc)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="carry the profile's current binhost snapshot on the medium",
    )
    p.add_argument(
        "--offline-from",
        type=Path,
        metavar="SNAPSHOT_DIR",
        help="the snapshot to carry (binhost/ and repo/; implies --offline)",
    )
    p.add_argument("--stage", type=Path, metavar="TARBALL", help="a stage3 tarball to carry")
    p.add_argument(
        "--live-dir",
        type=Path,
        metavar="DIR",
        help="vmlinuz and initrd.img (default: DATA_DIR/live)",
    )
    p.add_argument(
        "--templates",
        type=Path,
        default=TEMPLATES_DIR,
        metavar="DIR",
        help="boot menu and config templates (default: iso_templates/)",
    )
    p.add_argument(
        "--syslinux-dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="where isolinux.bin and the .c32 modules are (repeatable)",
    )
    p.add_argument(
        "--grub-efi-dir",
        type=Path,
        metavar="DIR",
        help="GRUB's x86_64-efi modules (default: /usr/lib/grub/x86_64-efi)",
    )
    p.add_argument(
        "--uefi",
        choices=[c.value for c in UefiChain],
        default=UefiChain.AUTO.value,
        help="UEFI boot chain: signed (shim + Debian's signed GRUB, boots with Secure Boot on), "
        "grub (unsigned), auto (signed when shim-signed and grub-efi-amd64-signed are installed)",
    )
    p.add_argument(
        "--timeout", type=int, default=5, metavar="SECONDS", help="boot menu timeout (default: 5)"
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="report progress on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_iso)


def progress_printer(name: str, tty: bool) -> Progress:
    """Prints at most one line per 5% (or per second on a terminal)."""
    state = {"pct": -5, "t": 0.0}

    def report(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        now = time.monotonic()
        if pct < state["pct"] + 5 and pct != 100 and not (tty and now - state["t"] >= 1):
            return
        if pct == state["pct"]:
            return
        state["pct"], state["t"] = pct, now
        end = "\r" if tty and pct < 100 else "\n"
        mib = 1024 * 1024
        print(
            f"{name}: {pct:3d}% ({done // mib}/{total // mib} MiB)",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return report


def cmd_iso(ctx: Context, args: argparse.Namespace) -> int:
    dirs = BootloaderDirs(uefi=UefiChain(args.uefi))
    if args.syslinux_dir:
        dirs = dataclasses.replace(dirs, syslinux=tuple(args.syslinux_dir))
    if args.grub_efi_dir:
        dirs = dataclasses.replace(dirs, grub_efi=(args.grub_efi_dir,))
    store = None
    if args.host or args.hostname:
        from provision.server.store import Store  # SQLite: only for a per-host medium

        store = Store.in_data_dir(ctx.data_dir)
    req = IsoRequest(
        data_dir=ctx.data_dir,
        profiles_dir=ctx.profiles_dir,
        profile=args.profile,
        output=args.output,
        mac=args.host,
        hostname=args.hostname,
        hosts=store,
        server=args.server,
        public_key=args.public_key,
        offline=args.offline,
        offline_from=args.offline_from,
        stage=args.stage,
        live_dir=args.live_dir,
        templates_dir=args.templates,
        bootloaders=dirs,
        timeout_s=args.timeout,
    )
    tty = sys.stderr.isatty()
    progress = progress_printer(args.output.name, tty) if (args.progress or tty) else None
    try:
        plan, size = build_iso(req, progress)
    finally:
        if store is not None:
            store.close()
    print(
        f"{args.output}: {size // (1024 * 1024)} MiB, {len(plan.files)} files, "
        f"profile {args.profile}"
    )
    return 0
