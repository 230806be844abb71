"""Repository snapshots: a pass builds from a copy of the profile's repositories taken at its
start, so edits to the live tree never mix into a build or a published snapshot.

Files unchanged since the previous published snapshot (same size and mtime) are hard-linked from
it (published snapshots are immutable), the rest are copied: cheap for a big ::gentoo tree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from provision.errors import ConfigError
from provision.profiles.model import Profile

SKIP = {".git", ".svn", "distfiles", "packages"}


def check_repositories(profile: Profile) -> None:
    """Each repository exists and names itself as the profile says; the Portage profile exists."""
    for repo in profile.repositories:
        where = f"{profile.source}: repositories ({repo.name})"
        loc = Path(repo.location)
        if not loc.is_dir():
            raise ConfigError(where, f"repository directory {loc} does not exist")
        name_file = loc / "profiles" / "repo_name"
        if not name_file.is_file():
            raise ConfigError(where, f"{loc} is not an ebuild repository (no profiles/repo_name)")
        actual = name_file.read_text().strip()
        if actual != repo.name:
            raise ConfigError(where, f"{name_file} says {actual!r}, the profile says {repo.name!r}")
    main = Path(profile.main_repository.location) / "profiles" / profile.portage.profile
    if not main.is_dir():
        raise ConfigError(f"{profile.source}: portage.profile", f"{main} does not exist")


def snapshot_tree(src: Path, dst: Path, link_dest: Path | None = None) -> str:
    """Copy src to dst (dst must not exist); return a digest of what was copied."""
    digest = hashlib.sha256()
    dst.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP)
        rel_dir = Path(dirpath).relative_to(src)
        out_dir = dst / rel_dir
        for d in dirnames:
            s = Path(dirpath) / d
            if s.is_symlink():
                os.symlink(os.readlink(s), out_dir / d)
                digest.update(f"L {rel_dir / d} {os.readlink(s)}\n".encode())
            else:
                (out_dir / d).mkdir()
        for name in sorted(filenames):
            s = Path(dirpath) / name
            rel = rel_dir / name
            if s.is_symlink():
                target = os.readlink(s)
                os.symlink(target, out_dir / name)
                digest.update(f"L {rel} {target}\n".encode())
                continue
            st = s.stat()
            digest.update(f"F {rel} {st.st_size} {st.st_mtime_ns} {st.st_mode:o}\n".encode())
            prev = link_dest / rel if link_dest is not None else None
            if prev is not None and _same(prev, st):
                try:
                    os.link(prev, out_dir / name)
                    continue
                except OSError:
                    pass
            shutil.copy2(s, out_dir / name)
    return digest.hexdigest()


def _same(path: Path, st: os.stat_result) -> bool:
    try:
        other = path.lstat()
    except FileNotFoundError:
        return False
    return (
        not path.is_symlink()
        and other.st_size == st.st_size
        and other.st_mtime_ns == st.st_mtime_ns
        and other.st_mode == st.st_mode
    )
