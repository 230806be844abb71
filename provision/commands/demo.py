"""`provision demo`: the main job on the bundled demo profiles, end to end.

Builds every profile's signed binhost (and system image) — vm-amd64 the way production builds,
in a stage root (a Debian-made stand-in for a Gentoo stage3, cached), so its snapshot has a
system image and an install stage — makes the live environment, an ISO and the PXE (TFTP)
tree, then serves it all and prints the addresses.  Each step is the real command an admin
would run; this only strings them together in a demo data dir.

`provision demo --vm pxe|iso` then boots a demo machine (QEMU, TCG) against that data dir: it
installs itself unattended while the web UI shows it, reboots from its disk and prints what the
installed system says (provision.demo.vm).  It uses the demo's server when one is running and
starts one otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.commands.tftp import populate
from provision.demo.settings import (
    DEMO_PASSWORD,
    GUEST_SERVER,
    STAGE_PROFILE,
    write_build_settings,
    write_server_settings,
)
from provision.demo.vm import (
    DEMO_HOSTNAME,
    DEMO_MAC,
    Firmware,
    MachineSpec,
    Medium,
    install_and_boot,
)
from provision.errors import ProvisionError
from provision.live.standin import DESCRIPTION, standin_stage
from provision.names import ProfileName
from provision.profiles import ProfileSet
from provision.run import Spawned, spawn
from provision.server.datadir import secure_data_dir
from provision.server.images import installable_image
from provision.server.store import Store
from provision.signing import export_public_key, load_key
from provision.snapshots.layout import DataLayout


def default_cache() -> Path:
    return Path(os.environ.get("PROVISION_CACHE", Path.home() / ".cache" / "provision"))


def _optional_profile(text: str) -> str:
    """A profile name, or "" for none (`--iso-profile ""`: no demo ISO)."""
    return ProfileName(text) if text else ""


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
        default=STAGE_PROFILE,
        type=_optional_profile,
        help=f"the demo ISO's profile ({STAGE_PROFILE})",
    )
    p.add_argument(
        "--profile",
        action="append",
        dest="only",
        type=ProfileName,
        metavar="NAME",
        help="build only this profile (repeatable; default: every profile)",
    )
    p.add_argument(
        "--live",
        choices=("debian", "marker"),
        default="debian",
        help="live environment: the real one (debootstrap, cached) or a marker kit (fast)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=default_cache(),
        help="cached bases: the stand-in stage, the live base (default ~/.cache/provision)",
    )
    p.add_argument("--no-serve", action="store_true", help="stop after building everything")
    p.add_argument(
        "--vm",
        choices=[m.value for m in Medium],
        help="boot a demo machine that installs itself from the data dir `provision demo` made",
    )
    p.add_argument(
        "--firmware", choices=[f.value for f in Firmware], default="bios", help="with --vm"
    )
    p.add_argument(
        "--vm-timeout", type=float, default=1500, help="seconds for the install (with --vm)"
    )
    p.set_defaults(func=cmd_demo)


def step(ctx: Context, title: str, *argv: str) -> None:
    if ctx.invoke is None:
        raise ProvisionError("the demo runs from the provision command line")
    print(f"\n== {title}: provision {' '.join(argv)}", flush=True)
    rc = ctx.invoke(
        ["--data-dir", str(ctx.data_dir), "--profiles-dir", str(ctx.profiles_dir), *argv]
    )
    if rc != 0:
        raise ProvisionError(f"demo step failed ({title}, exit code {rc}); see the output above")


def base_url_of(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"http://{host}:{port}"


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    if args.vm:
        return cmd_demo_vm(ctx, args)
    names = ProfileSet(ctx.profiles_dir).names()
    profiles = args.only or names
    base_url = base_url_of(args.listen)
    secure_data_dir(ctx.data_dir)  # a server's data dir: 0700 from the start
    write_server_settings(ctx.data_dir, base_url)
    if STAGE_PROFILE in profiles:
        print(f"\n== stage root of {STAGE_PROFILE}: {DESCRIPTION}", flush=True)
        stage = standin_stage(args.cache)
        print(f"provision: stage tarball {stage} (stands in for a Gentoo stage3)", flush=True)
        if not write_build_settings(ctx.data_dir, stage):
            print(f"provision: keeping {ctx.data_dir / 'build.toml'} (not the demo's)", flush=True)
    step(ctx, "binhosts (signed, one per profile)", "build", *profiles)
    step(ctx, "builder status", "status")
    live = ctx.data_dir / "live"
    if not (live / "vmlinuz").is_file() or not (live / "initrd.img").is_file():
        if args.live == "marker":
            from provision.live.initramfs import make_marker_bootkit

            print("\n== live environment: marker kit (prints its kernel command line)", flush=True)
            make_marker_bootkit(live)
        else:
            step(ctx, "live environment", "live", "build", "--cache", str(args.cache))
    iso = ctx.data_dir / "images" / f"{args.iso_profile}.iso"
    if args.iso_profile:
        iso.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        step(ctx, "install ISO", "iso", args.iso_profile, "-o", str(iso), "--server", base_url)
        iso.chmod(0o600)  # images/ is the server's (ordered images carry host tokens)
    print("\n== PXE: TFTP tree", flush=True)
    for name in populate(ctx.data_dir / "tftp", base_url):
        print(f"provision: wrote {ctx.data_dir / 'tftp' / name}")
    installable = STAGE_PROFILE in profiles and installable_image(ctx.data_dir, STAGE_PROFILE)
    print(
        "\nThe demo is built:\n"
        f"  web UI        {base_url}/  (admin password: {DEMO_PASSWORD})\n"
        f"  binhosts      {base_url}/binhost/<profile>/  (key: {base_url}/key.asc)\n"
        f"  images        {base_url}/image/<profile>/current/system.tar.zst\n"
        f"  install ISO   {iso if args.iso_profile else '(none)'}\n"
        f"  PXE           TFTP {args.tftp} serving {ctx.data_dir / 'tftp'}, "
        f"boot scripts at {base_url}/boot/<mac>.ipxe\n"
        f"  profiles      {', '.join(profiles)}\n"
        + (
            f"  installable   {STAGE_PROFILE} (stage root: a Debian-made stand-in for a Gentoo "
            "stage3; system image + install stage)\n"
            "  next          `make demo-vm` in another terminal: a QEMU machine installs "
            f"{STAGE_PROFILE} while {base_url}/hosts shows it"
            if installable
            else ""
        ),
        flush=True,
    )
    if args.no_serve:
        return 0
    step(
        ctx, "serve", "serve", "--listen", args.listen, "--base-url", base_url, "--tftp", args.tftp
    )
    return 0


# -- provision demo --vm ----------------------------------------------------------------------


def check_demo_data(data_dir: Path) -> None:
    """What the demo machine needs, made by `provision demo`; one clear line when missing."""
    layout = DataLayout(data_dir)
    missing = []
    if installable_image(data_dir, STAGE_PROFILE) is None:
        missing.append(f"a {STAGE_PROFILE} snapshot with a system image built in a stage root")
    if not any(layout.install_dir(STAGE_PROFILE).glob("stage.tar*.sha512.asc")):
        missing.append(f"the signed install stage of {STAGE_PROFILE}")
    initrd = data_dir / "live" / "initrd.img"
    if not initrd.is_file() or initrd.stat().st_size < 8 << 20:
        missing.append("the live environment (not the marker kit)")
    if missing:
        raise ProvisionError(
            f"{data_dir} lacks {'; '.join(missing)}: run `make demo` (provision demo) first"
        )


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=3) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def same_key(url: str, data_dir: Path) -> bool:
    """Whether the server at url serves this data dir (it hands out this data dir's key)."""
    try:
        with urllib.request.urlopen(f"{url}/key.asc", timeout=5) as resp:
            served: str = resp.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return False
    ours: str = export_public_key(load_key(DataLayout(data_dir).keys))
    return served.strip() == ours.strip()


def start_server(ctx: Context, listen: str, log: Path) -> Spawned:
    url = base_url_of(listen)
    argv = [
        sys.executable, "-m", "provision", "--data-dir", str(ctx.data_dir),
        "--profiles-dir", str(ctx.profiles_dir), "serve", "--listen", listen, "--no-build",
    ]  # fmt: skip
    server = spawn(argv, log_path=log)
    deadline = time.monotonic() + 60
    while not healthy(url):
        server.check()  # exited: CommandError with the log's tail
        if time.monotonic() > deadline:
            server.stop()
            raise ProvisionError(f"the demo server did not answer at {url} (log {log})")
        time.sleep(0.3)
    return server


def register_machine(data_dir: Path) -> None:
    """The demo machine, known by its MAC with the installable profile (as an admin adds a host
    in the UI); a previous demo machine of the same MAC is forgotten first."""
    store = Store.in_data_dir(data_dir)
    try:
        if store.find_host(DEMO_MAC) is not None:
            store.delete_host(DEMO_MAC)
        store.upsert_host(DEMO_MAC, profile=STAGE_PROFILE, hostname=DEMO_HOSTNAME)
    finally:
        store.close()


def check_guest_url(url: str, guest_url: str) -> None:
    """The server hands the machine URLs by the name it uses (server_names has GUEST_SERVER):
    checked before a machine boots for minutes."""
    guest_host = guest_url.split("://", 1)[1]
    request = urllib.request.Request(f"{url}/boot/boot.ipxe", headers={"Host": guest_host})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            script = resp.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        raise ProvisionError(f"{url}/boot/boot.ipxe as {guest_host}: {exc}") from exc
    if f"{guest_url}/boot/" not in script:
        raise ProvisionError(
            f"the server at {url} does not answer to {GUEST_SERVER} (server_names in its "
            "server.toml): restart it after `provision demo` wrote the demo settings"
        )


def machine_spec(medium: str, firmware: str, port: int, work: Path) -> MachineSpec:
    """The demo machine for `--vm MEDIUM --firmware FIRMWARE` (an ISO boot: work/demo-vm.iso)."""
    kind = Medium(medium)
    iso = work / "demo-vm.iso" if kind is Medium.ISO else None
    return MachineSpec(kind, Firmware(firmware), port, work, iso=iso)


def cmd_demo_vm(ctx: Context, args: argparse.Namespace) -> int:
    check_demo_data(ctx.data_dir)
    url = base_url_of(args.listen)
    write_server_settings(ctx.data_dir, url)  # the demo's settings, where missing
    port = int(args.listen.rpartition(":")[2])
    work = ctx.data_dir / "demo-vm"
    work.mkdir(parents=True, exist_ok=True)
    server: Spawned | None = None
    if healthy(url):
        if not same_key(url, ctx.data_dir):
            raise ProvisionError(
                f"the server at {url} serves another data dir: stop it, or pass --listen"
            )
        print(f"provision demo: using the demo server running at {url}", flush=True)
    else:
        print(f"provision demo: starting the demo server at {url} (log {work / 'server.log'})")
        server = start_server(ctx, args.listen, work / "server.log")
    try:
        spec = machine_spec(args.vm, args.firmware, port, work)
        iso = spec.iso
        register_machine(ctx.data_dir)
        if iso is not None:  # a per-host medium: the machine needs no menu, no PXE
            step(ctx, "the demo machine's ISO", "iso", STAGE_PROFILE, "--host", DEMO_MAC,
                 "--hostname", DEMO_HOSTNAME, "--server", spec.server_url, "--timeout", "1",
                 "-o", str(iso))  # fmt: skip
        print(
            f"\nprovision demo: watch it install: {url}/hosts/{DEMO_MAC}  (log in as admin, "
            f"password {DEMO_PASSWORD}); the machine reaches the server as {spec.server_url}",
            flush=True,
        )
        check_guest_url(url, spec.server_url)
        done = install_and_boot(spec, lambda line: print(line, flush=True),
                                install_timeout=args.vm_timeout)  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    print("\nThe installed system says:")
    for line in done.markers:
        print(line)
    print(f"power-on to marker: {done.seconds:.0f} s", flush=True)
    return 0
