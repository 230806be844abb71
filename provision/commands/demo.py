"""`provision demo`: the main job on the bundled demo profiles, end to end.

Builds every profile's signed binhost (and system image), makes the live environment, an ISO
and the PXE (TFTP) tree, then serves it all and prints the addresses.  Each step is the real
command an admin would run; this only strings them together in a demo data dir.
"""

from __future__ import annotations

import argparse
import secrets
import tomllib
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.commands.admin import set_key
from provision.commands.tftp import populate
from provision.errors import ProvisionError
from provision.fsutil import write_atomic
from provision.names import ProfileName
from provision.profiles import ProfileSet
from provision.server.auth import hash_password
from provision.server.settings import CONFIG_NAME

DEMO_PASSWORD = "provision-demo"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled demo profiles")
    p.add_argument(
        "--listen", default="127.0.0.1:8080", help="HTTP ADDR:PORT (default 127.0.0.1:8080)"
    )
    p.add_argument(
        "--tftp", default="127.0.0.1:6969", help="TFTP ADDR:PORT (default 127.0.0.1:6969)"
    )
    p.add_argument(
        "--iso-profile",
        default="desktop-amd64",
        type=ProfileName,
        help="the profile of the demo ISO",
    )
    p.add_argument(
        "--live",
        choices=("debian", "marker"),
        default="debian",
        help="live environment: the real one (debootstrap, cached) or a marker kit (fast)",
    )
    p.add_argument("--no-serve", action="store_true", help="stop after building everything")
    p.set_defaults(func=cmd_demo)


def demo_settings(data_dir: Path, base_url: str) -> None:
    """A secret key (random) and the demo admin password, unless the data dir has its own."""
    path = data_dir / CONFIG_NAME
    text = path.read_text() if path.is_file() else ""
    current = tomllib.loads(text) if text else {}
    if not current.get("secret_key"):
        text = set_key(text, "secret_key", secrets.token_urlsafe(32))
    if not current.get("admin_password_hash"):
        text = set_key(text, "admin_password_hash", hash_password(DEMO_PASSWORD))
    if not current.get("base_url"):
        text = set_key(text, "base_url", base_url)
    write_atomic(path, text, mode=0o600)


DEMO_BUILD_TOML = """# provision demo: the vm-amd64 profile's prebuilt kernel is this machine's own
[distfiles."sys-kernel/demo-kernel-bin"]
"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"
"demo-kernel-bin-6.1.0.initrd" = "/boot/initrd.img-*"
"""


def demo_build_settings(data_dir: Path) -> None:
    """build.toml declaring the demo kernel's files, unless the data dir has its own."""
    path = data_dir / "build.toml"
    if not path.exists():
        write_atomic(path, DEMO_BUILD_TOML)


def step(ctx: Context, title: str, *argv: str) -> None:
    if ctx.invoke is None:
        raise ProvisionError("the demo runs from the provision command line")
    print(f"\n== {title}: provision {' '.join(argv)}", flush=True)
    rc = ctx.invoke(
        ["--data-dir", str(ctx.data_dir), "--profiles-dir", str(ctx.profiles_dir), *argv]
    )
    if rc != 0:
        raise ProvisionError(f"demo step failed ({title}, exit code {rc}); see the output above")


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    profiles = ProfileSet(ctx.profiles_dir).names()
    host, _, port = args.listen.rpartition(":")
    base_url = f"http://{host}:{port}"
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    demo_settings(ctx.data_dir, base_url)
    demo_build_settings(ctx.data_dir)
    step(ctx, "binhosts (signed, one per profile)", "build", *profiles)
    step(ctx, "builder status", "status")
    live = ctx.data_dir / "live"
    if not (live / "vmlinuz").is_file() or not (live / "initrd.img").is_file():
        if args.live == "marker":
            from provision.live.initramfs import make_marker_bootkit

            print("\n== live environment: marker kit (prints its kernel command line)", flush=True)
            make_marker_bootkit(live)
        else:
            step(ctx, "live environment", "live", "build")
    iso = ctx.data_dir / "images" / f"{args.iso_profile}.iso"
    iso.parent.mkdir(parents=True, exist_ok=True)
    step(ctx, "install ISO", "iso", args.iso_profile, "-o", str(iso), "--server", base_url)
    print("\n== PXE: TFTP tree", flush=True)
    for name in populate(ctx.data_dir / "tftp", base_url):
        print(f"provision: wrote {ctx.data_dir / 'tftp' / name}")
    print(
        "\nThe demo is built:\n"
        f"  web UI        {base_url}/  (admin password: {DEMO_PASSWORD})\n"
        f"  binhosts      {base_url}/binhost/<profile>/  (key: {base_url}/key.asc)\n"
        f"  images        {base_url}/image/<profile>/current/system.tar.zst\n"
        f"  install ISO   {iso}\n"
        f"  PXE           TFTP {args.tftp} serving {ctx.data_dir / 'tftp'}, "
        f"boot scripts at {base_url}/boot/<mac>.ipxe\n"
        f"  profiles      {', '.join(profiles)}",
        flush=True,
    )
    if args.no_serve:
        return 0
    step(
        ctx, "serve", "serve", "--listen", args.listen, "--base-url", base_url, "--tftp", args.tftp
    )
    return 0
