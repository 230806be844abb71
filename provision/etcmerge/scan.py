"""Find pending ._cfgNNNN_name updates under CONFIG_PROTECT (minus CONFIG_PROTECT_MASK)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from provision.etcmerge.target import Protect, Target

CFG_NAME = re.compile(r"^\._cfg(\d{4})_(.+)$")


@dataclass(frozen=True)
class Pending:
    """One protected file with its waiting updates; cfg[-1] is the newest (what is installed
    if taken), older ones are superseded."""

    tpath: str
    cfg: tuple[str, ...]  # target paths of the ._cfg files, oldest first

    @property
    def newest(self) -> str:
        return self.cfg[-1]


def group(dir_entries: Iterable[tuple[str, str]], protect: Protect) -> list[Pending]:
    """Pure: (target dir, file name) pairs -> the protected files with pending updates."""
    found: dict[str, list[tuple[int, str]]] = {}
    for directory, name in dir_entries:
        m = CFG_NAME.match(name)
        if not m:
            continue
        tpath = f"{directory.rstrip('/')}/{m.group(2)}"
        if protect.covers(tpath):
            found.setdefault(tpath, []).append((int(m.group(1)), f"{directory.rstrip('/')}/{name}"))
    return [
        Pending(tpath, tuple(p for _, p in sorted(cfgs))) for tpath, cfgs in sorted(found.items())
    ]


def scan(target: Target, protect: Protect) -> list[Pending]:
    """Walk each CONFIG_PROTECT entry of the target (symlinked directories are not followed,
    as Portage's own tools do not)."""
    seen: set[tuple[str, str]] = set()
    for entry in protect.protect:
        host = target.host(entry)
        if host.is_dir():
            for dirpath, _dirs, files in os.walk(host):
                tdir = target.tpath(Path(dirpath))
                seen.update((tdir, f) for f in files if f.startswith("._cfg"))
        elif host.parent.is_dir():  # a single protected file
            tdir = target.tpath(host.parent)
            seen.update(
                (tdir, f)
                for f in os.listdir(host.parent)
                if f.startswith("._cfg") and f[10:] == host.name
            )
    return group(sorted(seen), protect)
