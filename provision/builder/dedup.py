"""Dedup across profiles: build a package once when two profiles would build it the same way.

Profiles whose compile environment is equal (CHOST, CFLAGS, CXXFLAGS, CPU_FLAGS_X86, extra
make.conf variables such as LDFLAGS, the Portage profile, the repositories and the build root)
share binary packages: before a pass, the staging PKGDIR is seeded with hard links to the
siblings' packages.  Portage then decides, with its own rules, which of them fit: USE must match
(binpkg-respect-use) and the dependencies they were built against must still hold
(--binpkg-changed-deps).  What fits is reused, signed file and all, so a published package of
two profiles is one file (one inode) in both snapshots.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from provision.builder.settings import RootSpec
from provision.profiles.model import Profile


def compile_env(profile: Profile, root: RootSpec) -> str:
    """Pure: a digest of everything outside USE and dependencies that shapes a binary."""
    p = profile.portage
    data = {
        "chost": p.chost,
        "cflags": p.cflags,
        "cxxflags": p.cxxflags,
        "cpu_flags_x86": sorted(p.cpu_flags_x86),
        "extra": sorted(p.extra.items()),
        "profile": p.profile,
        "repositories": [(r.name, r.location) for r in profile.repositories],
        "root": [root.kind, str(root.stage or "")],
        "binary_only": p.binary_only,  # PKG_INSTALL_MASK changes the package contents
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def siblings(
    profile: Profile, profiles: Iterable[tuple[Profile, RootSpec]], root: RootSpec
) -> list[str]:
    """Names of the other profiles that share profile's compile environment."""
    mine = compile_env(profile, root)
    return sorted(
        p.name for p, r in profiles if p.name != profile.name and compile_env(p, r) == mine
    )


def kernel_exclusions(profile: Profile, others: Iterable[Profile]) -> tuple[str, ...]:
    """The kernel package is shaped by the profile's config fragments, which Portage does not
    see: never take it from a sibling whose fragments differ."""
    kernel = profile.kernel.package
    if kernel and any(o.kernel.config != profile.kernel.config for o in others):
        return (kernel,)
    return ()


def seed(target: Path, sources: Iterable[Path], exclude: tuple[str, ...] = ()) -> int:
    """Hard-link the sources' .gpkg.tar files that target lacks (but for the excluded
    category/name packages); returns how many."""
    added = 0
    for source in sources:
        for pkg in sorted(source.glob("*/*/*.gpkg.tar")):
            if f"{pkg.parent.parent.name}/{pkg.parent.name}" in exclude:
                continue
            dst = target / pkg.relative_to(source)
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(pkg, dst)
            except FileExistsError:
                continue
            added += 1
    return added
