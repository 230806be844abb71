"""`provision rules check|show|test HOST`: the discovery rules (PROFILES_DIR/rules.toml)."""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from typing import Any

from provision.commands import Context
from provision.errors import NotFound
from provision.fleet.fit import profile_fits, profile_requirements
from provision.fleet.match import explain_host
from provision.fleet.rules import RuleSet, load_rules, rules_path
from provision.names import normalize_mac
from provision.profiles import ProfileSet


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="discovery rules: check them, show them, explain a host")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    rsub.required = True
    check = rsub.add_parser("check", help="validate rules.toml (one line and exit 2 on error)")
    check.set_defaults(func=cmd_check)
    show = rsub.add_parser("show", help="the rules in the order they are tried")
    show.set_defaults(func=cmd_show)
    test = rsub.add_parser("test", help="explain what the rules decide for a known host")
    test.add_argument("host", help="the host's MAC address or host name")
    test.add_argument("--json", action="store_true", help="the decision as JSON")
    test.set_defaults(func=cmd_test)


def _rules(ctx: Context) -> RuleSet:
    return load_rules(ctx.profiles_dir, ProfileSet(ctx.profiles_dir).names())


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    rules = _rules(ctx)
    if not rules_path(ctx.profiles_dir).is_file():
        print(f"{rules.path}: no such file (no rules: every machine waits in the picker)")
        return 0
    print(f"{rules.path}: ok ({len(rules)} rules)")
    return 0


def describe(rule: Any) -> str:
    """One line per rule (pure)."""
    parts = []
    if rule.chassis:
        parts.append("chassis " + "|".join(c.value for c in rule.chassis))
    for key in ("vendor", "product", "mac_prefix"):
        if getattr(rule, key):
            parts.append(f"{key} " + "|".join(getattr(rule, key)))
    if rule.cpu_level:
        parts.append(f"cpu >= {rule.cpu_level.label}")
    if rule.cpu_flags:
        parts.append("flags " + ",".join(rule.cpu_flags))
    for key in ("min_ram", "max_ram", "min_disk_size"):
        if getattr(rule, key) is not None:
            parts.append(f"{key} {getattr(rule, key) / (1 << 30):.1f}G")
    for key in ("min_disks", "max_disks", "max_hosts"):
        if getattr(rule, key) is not None:
            parts.append(f"{key} {getattr(rule, key)}")
    if rule.hostname:
        parts.append(f"hostname {rule.hostname}")
    if rule.wipe:
        parts.append("wipe")
    return f"{rule.name:16} -> {rule.profile:16} priority {rule.priority}: " + (
        "; ".join(parts) or "any machine"
    )


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    rules = _rules(ctx)
    if not len(rules):
        print(f"no rules in {rules.path}")
    for rule in rules:
        print(describe(rule))
    return 0


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    from provision.server.fleet_store import FleetStore
    from provision.server.store import Store

    profiles = ProfileSet(ctx.profiles_dir)
    rules = load_rules(ctx.profiles_dir, profiles.names())
    with (
        closing(Store.in_data_dir(ctx.data_dir)) as store,
        closing(FleetStore.in_data_dir(ctx.data_dir)) as fleet,
    ):
        hosts = store.hosts()
        wanted = args.host.strip().lower()
        found = [h for h in hosts if h.hostname == wanted]
        if not found:
            mac = normalize_mac(args.host)
            found = [h for h in hosts if h.mac == mac]
        if not found:
            raise NotFound(f"no host {args.host!r} in {ctx.data_dir} (give its MAC or name)")
        host = found[0]
        stored = fleet.inventory(host.mac)
        if stored is None:
            raise NotFound(f"{host.mac} has not reported its hardware yet")
        mine = fleet.assignment(host.mac)
        counts = fleet.rule_counts()
    inv = stored.inventory
    fits = profile_fits(profile_requirements(profiles), inv.cpu.arch, inv.cpu.flags)
    taken = [h.hostname for h in hosts if h.mac != host.mac and h.hostname]
    decision = explain_host(rules, host.mac, inv, fits, counts, mine.rule if mine else "", taken)
    if args.json:
        print(json.dumps({
            "host": host.mac,
            "profile": decision.profile,
            "hostname": decision.hostname,
            "rules": [
                {"rule": r.rule.name, "profile": r.rule.profile, "matches": r.matched,
                 "reasons": list(r.reasons)}
                for r in decision.results
            ],
            "current_profile": host.profile,
        }, indent=2))  # fmt: skip
        return 0
    level = inv.cpu.level
    print(
        f"{host.mac} ({host.hostname or 'no name'}): {inv.dmi.chassis.value}, "
        f"{inv.dmi.vendor} {inv.dmi.product}, CPU {level.label if level else 'below x86-64'}, "
        f"{inv.memory / (1 << 30):.1f} GiB, {len(inv.fixed_disks)} fixed disk(s)"
    )
    if host.profile:
        how = f" (by rule {mine.rule})" if mine else ""
        print(f"current profile: {host.profile}{how}")
    for line in decision.explain():
        print(line)
    return 0
