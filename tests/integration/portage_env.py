"""Helpers for integration tests: a Portage prefix set up from a demo profile."""

from __future__ import annotations

from pathlib import Path

from provision.portage.prefix import Prefix
from provision.portage.render import BuildContext, render_all, render_repos_conf
from provision.profiles.model import Profile


def demo_prefix(base: Path, profile: Profile, *, repo: Path | None = None) -> tuple[Prefix, Path]:
    """An EPREFIX under base/prefix building into base/pkgs (unsigned); returns (prefix, pkgdir)."""
    pkgdir, dist, tmp = base / "pkgs", base / "dist", base / "tmp"
    for d in (pkgdir, dist, tmp):
        d.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(pkgdir=str(pkgdir), distdir=str(dist), tmpdir=str(tmp), unprivileged=True)
    repo = repo or Path(profile.main_repository.location)
    prefix = Prefix(base / "prefix")
    prefix.create(
        repos_conf=render_repos_conf(profile, {profile.main_repository.name: str(repo)}),
        portage_profile=repo / "profiles" / profile.portage.profile,
        files=render_all(profile, ctx),
    )
    return prefix, pkgdir
