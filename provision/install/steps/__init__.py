"""Install steps, one per module, each with the same interface (STYLE habit 1).

A step module defines:
    NAME: str                               the step's name (events, state file)
    describe(ctx) -> list[str]              the commands/files it will run/write (--dry-run)
    apply(ctx) -> None                      do it (idempotent where it can be)
    is_done(ctx) -> bool | None             optional: check the disk itself (steps that run
                                            before the target is mounted); None → state file
"""

from __future__ import annotations

import importlib
from types import ModuleType

ORDER = (
    "partition",
    "filesystems",
    "mount",
    "stage",
    "image",
    "portage",
    "packages",
    "kernel",
    "bootloader",
    "system",
)
# Steps whose completion is checked on the disk (the state file lives on it, mounted later).
BEFORE_MOUNT = ("partition", "filesystems", "mount")


def load(name: str) -> ModuleType:
    if name not in ORDER:
        raise KeyError(name)
    return importlib.import_module(f"provision.install.steps.{name}")


def all_steps() -> list[ModuleType]:
    return [load(n) for n in ORDER]
