"""Which rule a discovered machine matches, and why each other rule did not (pure).

Every condition of every rule is checked and put into words, so that a machine that waits in
the picker shows what kept each rule from matching, and `provision rules test HOST` can
explain a decision.  A rule matches only if the machine's CPU can run the rule's profile.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from provision.errors import ConfigError
from provision.fleet.cpu import describe_flags
from provision.fleet.fit import Fit
from provision.fleet.inventory import Inventory
from provision.fleet.rules import Rule
from provision.names import check_hostname

# DMI serials that name no machine (firmware defaults)
PLACEHOLDER_SERIALS = {
    "", "0", "none", "n/a", "na", "not specified", "not applicable", "default string",
    "to be filled by o.e.m.", "system serial number", "chassis serial number", "0123456789",
}  # fmt: skip


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    checks: tuple[Check, ...]

    @property
    def matched(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the rule did not match (empty when it did)."""
        return tuple(c.text for c in self.checks if not c.ok)


@dataclass(frozen=True)
class Facts:
    """What a decision needs besides the rules."""

    mac: str
    inventory: Inventory
    fits: Mapping[str, Fit]  # profile -> can this machine run it
    counts: Mapping[str, int] = field(default_factory=dict)  # rule -> hosts it assigned
    taken: frozenset[str] = frozenset()  # host names other hosts use


@dataclass(frozen=True)
class Decision:
    rule: Rule | None
    hostname: str
    results: tuple[RuleResult, ...]

    @property
    def profile(self) -> str:
        return self.rule.profile if self.rule else ""

    def explain(self) -> list[str]:
        """One line per rule, in evaluation order, then the outcome."""
        lines = []
        for res in self.results:
            head = f"rule {res.rule.name} (→ {res.rule.profile}):"
            if res.matched:
                chosen = self.rule is not None and res.rule.name == self.rule.name
                lines.append(f"{head} matches" + ("" if chosen else " (an earlier rule won)"))
            else:
                lines.append(f"{head} no: {'; '.join(res.reasons)}")
        if self.rule is None:
            lines.append("no rule matches: the machine waits for a profile in the picker")
        else:
            name = f" as {self.hostname}" if self.hostname else ""
            lines.append(f"assigned {self.rule.profile}{name} by rule {self.rule.name}")
        return lines


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _globs(what: str, value: str, patterns: tuple[str, ...]) -> Check:
    shown = " or ".join(patterns)
    ok = any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)
    return Check(ok, f"{what} {value!r} {'matches' if ok else 'does not match'} {shown}")


def check_rule(rule: Rule, facts: Facts) -> RuleResult:
    """Every condition of one rule against one machine (pure)."""
    inv = facts.inventory
    checks: list[Check] = []
    if rule.chassis:
        kind = inv.dmi.chassis
        wanted = " or ".join(c.value for c in rule.chassis)
        ok = kind in rule.chassis
        text = f"chassis {kind.value} (SMBIOS type {inv.dmi.chassis_type})"
        checks.append(Check(ok, text if ok else f"{text} is not {wanted}"))
    if rule.vendor:
        checks.append(_globs("vendor", inv.dmi.vendor, rule.vendor))
    if rule.product:
        checks.append(_globs("product", inv.dmi.product, rule.product))
    level = inv.cpu.level
    if rule.cpu_level is not None:
        ok = level is not None and level >= rule.cpu_level
        have = level.label if level else "below x86-64"
        checks.append(Check(ok, f"CPU {have}, wants at least {rule.cpu_level.label}"))
    if rule.cpu_flags:
        lacking = sorted(set(rule.cpu_flags) - inv.cpu.flags)
        checks.append(
            Check(not lacking, f"CPU lacks {describe_flags(lacking)}" if lacking else "CPU flags")
        )
    if rule.min_ram is not None:
        ok = inv.memory >= rule.min_ram
        checks.append(
            Check(ok, f"memory {_gib(inv.memory)} {'>=' if ok else '<'} {_gib(rule.min_ram)}")
        )
    if rule.max_ram is not None:
        ok = inv.memory <= rule.max_ram
        checks.append(
            Check(ok, f"memory {_gib(inv.memory)} {'<=' if ok else '>'} {_gib(rule.max_ram)}")
        )
    disks = inv.fixed_disks
    if rule.min_disk_size is not None:
        largest = max((d.size for d in disks), default=0)
        ok = largest >= rule.min_disk_size
        checks.append(
            Check(
                ok,
                f"largest fixed disk {_gib(largest)} {'>=' if ok else '<'} "
                f"{_gib(rule.min_disk_size)}",
            )
        )
    if rule.min_disks is not None:
        ok = len(disks) >= rule.min_disks
        checks.append(Check(ok, f"{len(disks)} fixed disks, wants at least {rule.min_disks}"))
    if rule.max_disks is not None:
        ok = len(disks) <= rule.max_disks
        checks.append(Check(ok, f"{len(disks)} fixed disks, wants at most {rule.max_disks}"))
    if rule.mac_prefix:
        ok = any(facts.mac.startswith(p) for p in rule.mac_prefix)
        shown = " or ".join(rule.mac_prefix)
        checks.append(
            Check(ok, f"MAC {facts.mac} {'starts' if ok else 'does not start'} with {shown}")
        )
    if rule.max_hosts is not None:
        used = facts.counts.get(rule.name, 0)
        ok = used < rule.max_hosts
        checks.append(
            Check(ok, f"{used} of max_hosts {rule.max_hosts} assigned" + ("" if ok else " (full)"))
        )
    fit = facts.fits.get(rule.profile)
    if fit is None:
        checks.append(Check(False, f"profile {rule.profile} cannot be checked against this CPU"))
    elif fit.ok:
        checks.append(Check(True, f"the CPU can run {rule.profile}"))
    else:
        checks.append(Check(False, f"the CPU cannot run {rule.profile}: {fit.reason}"))
    return RuleResult(rule, tuple(checks))


def evaluate(rules: Iterable[Rule], facts: Facts) -> Decision:
    """The first matching rule (rules in evaluation order) and every rule's result."""
    results = tuple(check_rule(r, facts) for r in rules)
    winner = next((res.rule for res in results if res.matched), None)
    hostname = ""
    if winner is not None and winner.hostname:
        hostname = render_hostname(winner, facts)
    return Decision(winner, hostname, results)


def explain_host(
    rules: Iterable[Rule],
    mac: str,
    inventory: Inventory,
    fits: Mapping[str, Fit],
    counts: Mapping[str, int],
    own_rule: str,
    taken: Iterable[str],
) -> Decision:
    """What the rules decide for a known host now (read-only): its own place in a rule's
    max_hosts (own_rule) does not count against it."""
    mine = dict(counts)
    if own_rule:
        mine[own_rule] = max(0, mine.get(own_rule, 0) - 1)
    return evaluate(rules, Facts(mac, inventory, fits, mine, frozenset(taken)))


# --- host names --------------------------------------------------------------------------------
def _clean(value: str, limit: int = 40) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return text[:limit].strip("-")


def template_values(rule: Rule, facts: Facts) -> dict[str, str]:
    dmi = facts.inventory.dmi
    mac_hex = facts.mac.replace(":", "")
    serial = dmi.serial if dmi.serial.strip().lower() not in PLACEHOLDER_SERIALS else ""
    return {
        "chassis": dmi.chassis.value,
        "serial": _clean(serial) or mac_hex,
        "vendor": _clean(dmi.vendor.split()[0] if dmi.vendor.split() else "") or "unknown",
        "product": _clean(dmi.product) or "unknown",
        "mac": mac_hex,
        "profile": _clean(rule.profile),
        "rule": _clean(rule.name),
    }


def _tidy(name: str) -> str:
    labels = [re.sub(r"-{2,}", "-", label).strip("-")[:63].strip("-") for label in name.split(".")]
    return ".".join(label for label in labels if label)


def render_hostname(rule: Rule, facts: Facts) -> str:
    """The rule's template filled in and made unique among `facts.taken` (-2, -3...)."""
    base = _tidy(rule.hostname.format(**template_values(rule, facts)))
    if not base:
        base = "host-" + facts.mac.replace(":", "")
    first, dot, rest = base.partition(".")
    name = base
    n = 1
    while name in facts.taken:
        n += 1
        suffix = f"-{n}"
        name = first[: 63 - len(suffix)] + suffix + dot + rest
    try:
        return check_hostname(name[:253])
    except ConfigError:
        return "host-" + facts.mac.replace(":", "")
