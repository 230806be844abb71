"""Three-way merge with diff3 (GNU diffutils) and unified diffs for people."""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

from provision.errors import CommandError
from provision.etcmerge.decide import Merged
from provision.run import run

CONFLICT_START = "<<<<<<< "
CONFLICT_END = ">>>>>>> "


def three_way(current: str, base: str, new: str, path: str) -> Merged:
    """`diff3 -m` of the admin's version and the new one against the last shipped version."""
    with tempfile.TemporaryDirectory(prefix="provision-etcmerge-") as tmp:
        files = []
        for name, text in (("current", current), ("base", base), ("new", new)):
            f = Path(tmp) / name
            f.write_bytes(text.encode(errors="surrogateescape"))
            files.append(f)
        argv = [
            "diff3",
            "-m",
            "-L",
            f"{path} (yours)",
            "-L",
            f"{path} (last shipped)",
            "-L",
            f"{path} (new)",
            *map(str, files),
        ]
        result = run(argv, check=False, timeout=60)
    if result.returncode not in (0, 1):
        raise CommandError(result.argv, result.returncode, result.stdout, result.stderr)
    return Merged(result.stdout, count_conflicts(result.stdout))


def count_conflicts(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(CONFLICT_START))


def has_markers(text: str) -> bool:
    return any(
        line.startswith((CONFLICT_START, CONFLICT_END)) or line == "======="
        for line in text.splitlines()
    )


def unified(old: str | None, new: str | None, old_label: str, new_label: str) -> str:
    """Pure: a unified diff (empty when equal); None stands for a missing file."""
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=old_label if old is not None else "/dev/null",
        tofile=new_label if new is not None else "/dev/null",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
