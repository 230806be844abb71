"""`provision install`: install a profile onto a disk (in the live environment, or from a
running system into any target root).  See docs/install.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.dns.discover import load_resolver_config, locate_server
from provision.dns.resolvconf import RESOLV_CONF
from provision.errors import ConfigError, InstallError
from provision.install import bootinfo, inventory, steps
from provision.install import disks as disklib
from provision.install.config import InstallConfig, config_document, parse_atoms, parse_config
from provision.install.discover import check_cpu, report_inventory, wait_for_config
from provision.install.events import Events
from provision.install.runner import Options, install
from provision.profiles import ProfileSet
from provision.profiles.model import Firmware


def register(sub: Any) -> None:
    p = sub.add_parser("install", help="install a profile onto a disk (the installer)")
    p.add_argument(
        "--server",
        default="",
        help="server URL (default: provision.server= on /proc/cmdline, else DNS SRV "
        "_provision._tcp.<search domain of /etc/resolv.conf>)",
    )
    p.add_argument(
        "--host",
        default="",
        help="host id/MAC (default: provision.host=, else the first NIC's MAC)",
    )
    p.add_argument("--token", default="", help="the host's token (default: provision.token=)")
    p.add_argument(
        "--profile", default="", help="install this profile from --profiles-dir (no server needed)"
    )
    p.add_argument(
        "--source-url", default="", help="with --profile: the server's base URL for binhost/key"
    )
    p.add_argument("--stage-url", default="", help="with --profile: the stage tarball URL")
    p.add_argument(
        "--repo-url", default="", help="with --profile: the repository snapshot tarball URL"
    )
    p.add_argument("--hostname", default="", help="with --profile: the new system's host name")
    p.add_argument(
        "--image-source",
        default="",
        help="the system image: URL or directory (an offline medium's snapshot/image), or "
        "'none' to install per package (default: provision.image=, else what the server offers)",
    )
    p.add_argument(
        "--packages", default="", help="extra packages for this host, emerged on top of the image"
    )
    p.add_argument(
        "--dns-server",
        default="",
        help="nameserver IP[:PORT] for SRV discovery (default: those of --resolv-conf)",
    )
    p.add_argument("--resolv-conf", type=Path, default=RESOLV_CONF, help=argparse.SUPPRESS)
    p.add_argument(
        "--target", type=Path, default=Path("/mnt/gentoo"), help="target root (default /mnt/gentoo)"
    )
    p.add_argument("--disk", default="", help="use this disk (overrides the profile's disk.select)")
    p.add_argument("--wipe", action="store_true", help="allow wiping a disk that holds partitions")
    p.add_argument("--allow-removable", action="store_true", help="removable disks are candidates")
    p.add_argument(
        "--firmware",
        choices=("bios", "uefi"),
        help="override the firmware (default: profile, auto-detected)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and the commands, touch nothing"
    )
    p.add_argument("--no-unmount", action="store_true", help="leave the target mounted at the end")
    p.add_argument(
        "--steps",
        default="",
        help=f"run only these steps (comma-separated; default all: {','.join(steps.ORDER)})",
    )
    p.add_argument("--cmdline", type=Path, default=Path("/proc/cmdline"), help=argparse.SUPPRESS)
    p.add_argument(
        "--force",
        action="store_true",
        help="install even if this machine's CPU cannot run the profile's binaries (admin)",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="do not send this machine's hardware to the server first",
    )
    p.add_argument("--list-disks", action="store_true", help="list the disks udev sees and exit")
    p.add_argument("--record-udev", type=Path, help="write udev records of block devices (JSON)")
    p.set_defaults(func=cmd_install)


def parse_cmdline(text: str) -> dict[str, str]:
    """provision.KEY=VALUE words of a kernel command line → {KEY: VALUE} (pure)."""
    out = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key.startswith("provision."):
            out[key[len("provision.") :]] = value
    return out


def first_mac(net: Path = Path("/sys/class/net")) -> str:
    for dev in sorted(net.iterdir()) if net.is_dir() else []:
        addr = (dev / "address").read_text().strip() if (dev / "address").is_file() else ""
        if dev.name != "lo" and addr and addr != "00:00:00:00:00:00":
            return addr
    return ""


def cmd_install(ctx: Context, args: argparse.Namespace) -> int:
    if args.record_udev:
        args.record_udev.write_text(disklib.dump_records(disklib.records_from_udev()))
        return 0
    found = disklib.scan(ignore_under=os.path.realpath(args.target))
    if args.list_disks:
        for disk in found:
            why = disklib.reject_reason(
                disk, min_size=0, allow_removable=args.allow_removable, by_path=False
            )
            print(f"{disk.describe():60} {'candidate' if not why else 'no: ' + why}")
        return 0
    config = load_config(ctx, args)
    events = Events(url=config.events_url, token=config.token)
    cpu = inventory.read_cpu(Path("/"), os.uname().machine)
    try:
        check_cpu(config.profile, cpu, force=args.force or config.force_cpu)
    except InstallError as exc:
        events.emit("failure", "cpu", str(exc))
        raise
    options = Options(
        target=args.target,
        disk=args.disk,
        wipe=args.wipe,
        allow_removable=args.allow_removable,
        firmware=Firmware(args.firmware) if args.firmware else None,
        dry_run=args.dry_run,
        unmount=not args.no_unmount,
    )
    cmdline = parse_cmdline(args.cmdline.read_text()) if args.cmdline.is_file() else {}
    chosen = args.steps or cmdline.get("steps", "")
    names = [n.strip() for n in chosen.split(",") if n.strip()] or list(steps.ORDER)
    unknown = [n for n in names if n not in steps.ORDER]
    if unknown:
        raise ConfigError("--steps", f"unknown steps {unknown} (known: {', '.join(steps.ORDER)})")
    install(config, options, found, events, [steps.load(n) for n in steps.ORDER if n in names])
    return 0


def load_config(ctx: Context, args: argparse.Namespace) -> InstallConfig:
    config = _load_config(ctx, args)
    cmdline = parse_cmdline(args.cmdline.read_text()) if args.cmdline.is_file() else {}
    image = args.image_source or cmdline.get("image", "")
    extra = parse_atoms(args.packages)
    if image or extra:
        config = dataclasses.replace(
            config,
            sources=dataclasses.replace(config.sources, image_url=image)
            if image
            else config.sources,
            settings=dataclasses.replace(
                config.settings, packages=tuple(dict.fromkeys(config.settings.packages + extra))
            ),
        )
    return config


def find_server(args: argparse.Namespace, cmdline_text: str) -> str:
    """--server, else provision.server= on the kernel command line, else DNS SRV discovery
    (`_provision._tcp` in the live system's resolv.conf search domains, or provision.domain=)."""
    if args.server:
        return str(args.server)
    given = parse_cmdline(cmdline_text).get("server", "")
    if given:
        return given
    resolver = load_resolver_config(args.resolv_conf, nameserver=args.dns_server or None)
    url, hint = locate_server(cmdline_text, resolver)
    print(
        f"provision-install: found the server {url} through DNS SRV"
        + (f" (profile hint {hint})" if hint else ""),
        flush=True,
    )
    return url


def _load_config(ctx: Context, args: argparse.Namespace) -> InstallConfig:
    cmdline_text = args.cmdline.read_text() if args.cmdline.is_file() else ""
    cmdline = parse_cmdline(cmdline_text)
    if args.profile:
        profile = ProfileSet(ctx.profiles_dir).get(args.profile)
        base = args.source_url
        doc = config_document(
            host_id=args.host or first_mac() or "local",
            hostname=args.hostname or "gentoo",
            profile=profile,
            settings={},
            base_url=base,
            wipe=args.wipe,
            stage_url=args.stage_url,
            repo_url=args.repo_url,
        )
        doc["events_url"] = ""
        if not base:
            doc["sources"]["binhost_url"] = doc["sources"]["key_url"] = ""
        return parse_config(json.loads(json.dumps(doc)))
    server = find_server(args, cmdline_text)
    host = args.host or cmdline.get("host", "") or first_mac()
    if not host:
        raise InstallError("no host id: pass --host MAC or boot with provision.host=MAC")
    token = args.token or cmdline.get("token", "")
    if not args.dry_run:
        # how this machine booted (the firmware's record), first of the install's events: the
        # picker shows it while the machine waits for a profile
        booted = bootinfo.detect(bootinfo.boot_hint(cmdline))
        events = Events(url=f"{server.rstrip('/')}/api/v1/hosts/{host}/events", token=token)
        events.emit("boot", booted.path.value, booted.message(), best_effort=True)
    answer = None
    if not args.no_report and not args.dry_run:
        answer = report_inventory(server, host, token, inventory.collect())
    url = f"{server.rstrip('/')}/api/v1/hosts/{host}/config"
    print(f"provision-install: fetching {url}", flush=True)
    doc = wait_for_config(
        url,
        token,
        poll=_seconds(cmdline.get("poll", ""), 10.0),
        timeout=_seconds(cmdline.get("wait", ""), 0.0),
        explain=[str(x) for x in answer.get("explain", [])] if answer else None,
        picker=str(answer.get("picker", "")) if answer else "",
    )
    return parse_config(doc, token=token)


def _seconds(text: str, default: float) -> float:
    """provision.poll= / provision.wait= (seconds) from the kernel command line."""
    try:
        value = float(text)
    except ValueError:
        return default
    return value if 0 <= value < 1e7 else default
