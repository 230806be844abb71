"""Pure planning for a build pass: emerge argv, pass ids, what a log says."""

from __future__ import annotations

import re
import secrets
import time

# Portage's "Emerging" lines: built from source vs. taken from a binary package.
_EMERGING = re.compile(r">>> Emerging (binary )?\(\d+ of \d+\) (\S+?)(?:::\S+)?$", re.M)
_FAILED = re.compile(r"^ \* ERROR: (\S+?)(?:::\S+)? failed \(([^)]*)\)", re.M)


def emerge_argv(*, jobs: int = 1, targets: tuple[str, ...] = ("@world",)) -> list[str]:
    """The update of the profile's world set (the world file is rendered from the profile)."""
    return [
        "--ask=n",
        "--update",
        "--deep",
        "--newuse",
        "--buildpkg",
        "--usepkg",
        "--keep-going",
        "--with-bdeps=y",
        # when an unstable (keyword-masked) version is needed, Portage names the
        # package.accept_keywords lines and stops, instead of building half the set
        "--autounmask=y",
        "--autounmask-write=n",
        "--autounmask-keep-keywords=n",
        f"--jobs={jobs}",
        "--color=n",
        "--nospinner",
        "--verbose",
        *targets,
    ]


def new_pass_id(now: float | None = None) -> str:
    """Sortable, unique: UTC time plus a random suffix (also the snapshot's id)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(3)}"


def emerged(log: str) -> tuple[list[str], list[str]]:
    """(built from source, reused binary packages) as category/name-version, from a log."""
    built: list[str] = []
    reused: list[str] = []
    for binary, cpv in _EMERGING.findall(log):
        (reused if binary else built).append(cpv)
    return built, reused


def failure_line(log: str) -> str:
    """One line saying why a pass failed, from an emerge log (the first ebuild failure)."""
    m = _FAILED.search(log)
    if m:
        return f"{m.group(1)} failed ({m.group(2)})"
    for line in reversed(log.splitlines()):
        if line.startswith((" * ", "!!! ")) and line.strip(" *!"):
            return line.strip(" *!")
    return ""


def bootstrap_argv(atom: str) -> list[str]:
    """One bootstrap step (a cycle breaker): build atom once, with the step's USE in the
    environment; --noreplace makes it a no-op once the package is installed in the root."""
    return [
        "--ask=n",
        "--oneshot",
        "--noreplace",
        "--buildpkg",
        "--usepkg",
        "--color=n",
        "--nospinner",
        "--verbose",
        atom,
    ]


def bootstrap_env(use: tuple[str, ...]) -> dict[str, str]:
    """USE in the environment outranks make.conf and package.use (Portage's USE_ORDER)."""
    return {"USE": " ".join(use)} if use else {}


def preserved_rebuild_argv() -> list[str]:
    """Rebuild consumers of libraries whose old versions Portage had to preserve."""
    return ["--ask=n", "--buildpkg", "--usepkg", "--color=n", "--nospinner", "@preserved-rebuild"]
