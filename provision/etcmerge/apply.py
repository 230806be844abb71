"""Thin appliers: carry out a Decision on the target (archive first, record what shipped)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from provision.errors import ProvisionError
from provision.etcmerge.archive import archive
from provision.etcmerge.decide import Action, Decision
from provision.etcmerge.plan import Item
from provision.etcmerge.record import encode, record_shipped
from provision.etcmerge.target import Target
from provision.fsutil import write_atomic


@dataclass(frozen=True)
class Applied:
    tpath: str
    action: Action
    archived: str | None  # archive entry holding the replaced version


def apply(target: Target, item: Item, decision: Decision | None = None) -> Applied | None:
    """Carry out `decision` (default: the item's own).  ASK does nothing and returns None."""
    d = decision or item.decision
    if d.action is Action.ASK:
        return None
    dest = target.host(item.tpath)
    newest = target.host(item.pending.newest)
    archived = None
    if d.action in (Action.TAKE_NEW, Action.MERGE) and dest.is_file():
        entry = archive(target, item.tpath)
        archived = str(entry) if entry else None
    if d.action is Action.TAKE_NEW:
        os.replace(newest, dest)
    elif d.action is Action.MERGE:
        if d.merged is None:
            raise ProvisionError(f"{item.tpath}: merge decision without merged text")
        ref = dest if dest.exists() else newest
        st = ref.stat()
        write_atomic(dest, encode(d.merged.text), mode=st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(dest, st.st_uid, st.st_gid)
    record_shipped(target, item.tpath, item.versions.new)
    for cfg in item.pending.cfg:
        target.host(cfg).unlink(missing_ok=True)
    return Applied(item.tpath, d.action, archived)
