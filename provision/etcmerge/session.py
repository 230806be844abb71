"""One etc-merge run: refresh the shipped records, scan, plan, then apply (non-interactive) or
ask (guided)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provision.etcmerge.apply import Applied, apply
from provision.etcmerge.decide import Action, Decision
from provision.etcmerge.guided import Terminal, guide
from provision.etcmerge.plan import Item, plan
from provision.etcmerge.record import Baseline, record_baseline
from provision.etcmerge.scan import scan
from provision.etcmerge.target import Protect, Target, read_protect
from provision.profiles.model import MergePolicy

Outcomes = dict[str, tuple[Decision, Applied | None]]


@dataclass(frozen=True)
class Prepared:
    protect: Protect
    baseline: Baseline
    items: list[Item]


def record_installed(target: Target) -> Baseline:
    """Record every protected file as its installed package shipped it: the installer calls
    this once the packages are installed (same as `provision etc-merge --record-baseline`)."""
    return record_baseline(target, read_protect(target))


def prepare(
    target: Target, policy: MergePolicy, protect: Protect | None = None, refresh: bool = True
) -> Prepared:
    """Read CONFIG_PROTECT, refresh the shipped records from CONTENTS (unless not `refresh`:
    a dry run writes nothing), find the pending updates and decide each."""
    protect = protect or read_protect(target)
    baseline = record_baseline(target, protect) if refresh else Baseline()
    return Prepared(protect, baseline, plan(target, scan(target, protect), policy))


def apply_safe(target: Target, items: Sequence[Item], dry_run: bool = False) -> Outcomes:
    """Apply every decision that needs nobody; ASK items are left alone."""
    out: Outcomes = {}
    for item in items:
        if item.decision.action is Action.ASK:
            continue
        out[item.tpath] = (item.decision, None if dry_run else apply(target, item))
    return out


def run_guided(
    target: Target, items: Sequence[Item], term: Terminal, dry_run: bool = False
) -> Outcomes:
    """Apply the safe decisions (and say so), then ask about the rest."""
    out = apply_safe(target, items, dry_run)
    for path, (decision, _applied) in out.items():
        term.say(f"{path}: {decision.action.value} ({decision.reason})")
    asks = [i for i in items if i.decision.action is Action.ASK]
    if not asks:
        term.say("nothing needs a decision")
        return out

    def apply_fn(item: Item, decision: Decision) -> Applied | None:
        return None if dry_run else apply(target, item, decision)

    out.update(guide(asks, term, apply_fn))
    return out
