"""Subcommands.  Each module defines register(subparsers) and sets func(ctx, args) -> int."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Context:
    """What every command gets: where the server keeps its state and where profiles live."""

    data_dir: Path
    profiles_dir: Path
    verbose: int = 0
    # runs another `provision` command line in this process (the demo chains commands)
    invoke: Callable[[Sequence[str]], int] | None = None
