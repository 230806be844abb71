"""Planning: read the three versions of each pending file, decide, merge where needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provision.etcmerge.decide import Action, Decision, Versions, decide
from provision.etcmerge.merge import three_way
from provision.etcmerge.record import read_shipped, read_text
from provision.etcmerge.scan import Pending
from provision.etcmerge.target import Target
from provision.profiles.model import MergePolicy


@dataclass(frozen=True)
class Item:
    pending: Pending
    versions: Versions
    decision: Decision

    @property
    def tpath(self) -> str:
        return self.pending.tpath


def plan_one(target: Target, pending: Pending, policy: MergePolicy) -> Item:
    host, new_host = target.host(pending.tpath), target.host(pending.newest)
    v = Versions(read_shipped(target, pending.tpath), read_text(host), read_text(new_host) or "")
    if host.is_symlink() or new_host.is_symlink():
        why = "a symbolic link is involved; provision merges only regular files"
        return Item(pending, v, Decision(Action.ASK, "symlink", why))
    d = decide(pending.tpath, v, policy)
    if d.needs_merge:
        assert v.base is not None and v.current is not None
        merged = three_way(v.current, v.base, v.new, pending.tpath)
        d = decide(pending.tpath, v, policy, merged)
    return Item(pending, v, d)


def plan(target: Target, pendings: Sequence[Pending], policy: MergePolicy) -> list[Item]:
    return [plan_one(target, p, policy) for p in pendings]
