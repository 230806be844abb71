"""`provision live build`: the live environment (kernel + initrd) that runs the installer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.errors import ConfigError
from provision.live.build import LiveBase, LiveSpec, build_live


def register(sub: Any) -> None:
    p = sub.add_parser("live", help="build the live environment that runs the installer")
    lsub = p.add_subparsers(dest="action", metavar="ACTION")
    lsub.required = True
    b = lsub.add_parser("build", help="make vmlinuz + initrd.img (default DATA_DIR/live)")
    b.add_argument(
        "--base",
        nargs="+",
        default=["debootstrap"],
        metavar="KIND",
        help="debootstrap (a Debian base, the default) or: stage3 PATH (a Gentoo stage3)",
    )
    b.add_argument("-o", "--output", type=Path, help="output directory (default DATA_DIR/live)")
    b.add_argument("--kernel", type=Path, help="kernel image (default: newest /boot/vmlinuz-*)")
    b.add_argument("--mirror", default="", help="Debian mirror (default: this machine's apt's)")
    b.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "provision",
        help="where the base and the Python dependencies are cached",
    )
    b.set_defaults(func=cmd_build)


def parse_base(words: list[str]) -> tuple[LiveBase, Path | None]:
    if words == ["debootstrap"]:
        return LiveBase.DEBOOTSTRAP, None
    if len(words) == 2 and words[0] == "stage3":
        return LiveBase.STAGE3, Path(words[1]).absolute()
    raise ConfigError("--base", f"{' '.join(words)!r}: expected debootstrap or stage3 PATH")


def cmd_build(ctx: Context, args: argparse.Namespace) -> int:
    kind, stage3 = parse_base(args.base)
    spec = LiveSpec(
        out_dir=args.output or ctx.data_dir / "live",
        cache=args.cache,
        base=kind,
        stage3=stage3,
        kernel=args.kernel,
        mirror=args.mirror,
    )
    vmlinuz, initrd = build_live(spec)
    size = initrd.stat().st_size >> 20
    print(f"{vmlinuz}\n{initrd} ({size} MiB)")
    return 0
