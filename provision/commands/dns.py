"""`provision dns check|register|remove|discover|retry|queue`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.dns.check import check_settings
from provision.dns.discover import discover, load_resolver_config
from provision.dns.errors import DnsError
from provision.dns.queue import RetryQueue
from provision.dns.register import owner_id, register_host, remove_host
from provision.dns.resolvconf import RESOLV_CONF
from provision.dns.settings import DnsSettings, default_path, load_dns_settings
from provision.names import Mac


def register(sub: Any) -> None:
    p = sub.add_parser("dns", help="DNS: server discovery (SRV) and host registration (RFC 2136)")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", type=Path, help="DNS settings file (default: DATA_DIR/dns.toml)"
    )

    check = dsub.add_parser("check", parents=[config], help="check the zones and the TSIG key")
    check.set_defaults(func=cmd_check)

    reg = dsub.add_parser("register", parents=[config], help="add or replace a host's records")
    reg.add_argument("host", help="host name (relative to the zone, or a name inside it)")
    reg.add_argument("--ip", action="append", required=True, help="address (repeatable)")
    _owner_args(reg)
    reg.set_defaults(func=cmd_register)

    rm = dsub.add_parser("remove", parents=[config], help="remove a host's records")
    rm.add_argument("host")
    _owner_args(rm)
    rm.set_defaults(func=cmd_remove)

    disc = dsub.add_parser("discover", help="find the provisioning server as an installer does")
    disc.add_argument("--domain", help="domain to search (default: resolv.conf search list)")
    disc.add_argument("--nameserver", help="IP or IP:PORT to ask (default: resolv.conf)")
    disc.add_argument("--resolv-conf", type=Path, default=RESOLV_CONF, help=argparse.SUPPRESS)
    disc.set_defaults(func=cmd_discover)

    retry = dsub.add_parser("retry", parents=[config], help="retry queued registrations")
    retry.set_defaults(func=cmd_retry)

    queue = dsub.add_parser("queue", help="list queued registrations")
    queue.add_argument("--drop", metavar="HOST", help="forget the queued request for HOST")
    queue.set_defaults(func=cmd_queue)


def _owner_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mac", type=Mac, help="the host's MAC: its ownership id")
    group.add_argument("--owner", help="ownership id when there is no MAC (default: the host)")


def _settings(ctx: Context, args: argparse.Namespace) -> DnsSettings:
    return load_dns_settings(args.config or default_path(ctx.data_dir))


def _owner(args: argparse.Namespace, default: str | None) -> str | None:
    if args.mac or args.owner:
        return owner_id(args.mac, args.owner)
    return owner_id(None, default) if default else None


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    for line in check_settings(_settings(ctx, args)):
        print(line)
    return 0


def cmd_register(ctx: Context, args: argparse.Namespace) -> int:
    owner = _owner(args, args.host)
    assert owner is not None
    result = register_host(_settings(ctx, args), args.host, args.ip, owner)
    for line in result.changes or [f"{result.fqdn}: already up to date"]:
        print(line)
    for line in result.skipped:
        print(f"skipped: {line}")
    return 0


def cmd_remove(ctx: Context, args: argparse.Namespace) -> int:
    # Without --mac/--owner, any name provision manages may be removed (never others' records).
    result = remove_host(_settings(ctx, args), args.host, _owner(args, None))
    for line in result.changes or [f"{result.fqdn}: nothing to remove"]:
        print(line)
    return 0


def cmd_discover(ctx: Context, args: argparse.Namespace) -> int:
    config = load_resolver_config(args.resolv_conf, nameserver=args.nameserver)
    found = discover(args.domain, config)
    print(f"domain: {found.domain}")
    print(f"server: {found.servers[0]}")
    for other in found.servers[1:]:
        print(f"fallback: {other}")
    print(f"profile hint: {found.profile_hint or '(none)'}")
    return 0


def cmd_retry(ctx: Context, args: argparse.Namespace) -> int:
    queue = RetryQueue.in_data_dir(ctx.data_dir)
    report = queue.retry(_settings(ctx, args))
    for entry in report.done:
        print(f"done: {entry.op} {entry.host}")
    for entry in report.failed:
        print(f"still queued: {entry.op} {entry.host}: {entry.last_error}")
    if report.failed:
        raise DnsError(f"{len(report.failed)} DNS update(s) still failing, kept in {queue.path}")
    return 0


def cmd_queue(ctx: Context, args: argparse.Namespace) -> int:
    queue = RetryQueue.in_data_dir(ctx.data_dir)
    if args.drop:
        if not queue.drop(args.drop):
            raise DnsError(f"nothing queued for {args.drop} in {queue.path}")
        print(f"dropped {args.drop}")
        return 0
    for entry in queue.entries():
        addrs = " ".join(entry.addresses)
        print(f"{entry.op:8} {entry.host} {addrs} (attempts {entry.attempts}: {entry.last_error})")
    return 0
