"""Where the builder keeps things in the data dir (pure path arithmetic, nothing is created).

keys/sign, keys/verify, keys/fingerprint    the server's signing key (GnuPG homes)
distfiles/                                  DISTDIR, shared by every profile
builds/<profile>/root                       the build root (an EPREFIX or an unpacked stage)
builds/<profile>/pkgdir                     the staging PKGDIR (kept between passes: --usepkg)
builds/<profile>/repos/<pass>/<repo>        the repository snapshot a pass builds from
builds/<profile>/logs/<pass>.log            one log per pass
builds/<profile>/state.json                 the state machine (see state.py)
snapshots/<profile>/<id>/{binhost,repo}     published, immutable
snapshots/<profile>/current -> <id>         what clients see
install/<profile>/stage.tar.*{,.sha512,.sha512.asc}   the install stage (stage roots' stage3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    data_dir: Path

    @property
    def keys(self) -> Path:
        return self.data_dir / "keys"

    @property
    def distfiles(self) -> Path:
        return self.data_dir / "distfiles"

    @property
    def settings_file(self) -> Path:
        return self.data_dir / "build.toml"

    def build_dir(self, profile: str) -> Path:
        return self.data_dir / "builds" / profile

    def root(self, profile: str) -> Path:
        return self.build_dir(profile) / "root"

    def pkgdir(self, profile: str) -> Path:
        return self.build_dir(profile) / "pkgdir"

    def repos(self, profile: str) -> Path:
        return self.build_dir(profile) / "repos"

    def logs(self, profile: str) -> Path:
        return self.build_dir(profile) / "logs"

    def state_file(self, profile: str) -> Path:
        return self.build_dir(profile) / "state.json"

    def trigger_file(self, profile: str) -> Path:
        return self.build_dir(profile) / "trigger"

    def lock_file(self, profile: str) -> Path:
        return self.build_dir(profile) / "lock"

    def snapshots(self, profile: str) -> Path:
        return self.data_dir / "snapshots" / profile

    def current_link(self, profile: str) -> Path:
        return self.snapshots(profile) / "current"

    def install_dir(self, profile: str) -> Path:
        return self.data_dir / "install" / profile

    def profiles_built(self) -> list[str]:
        base = self.data_dir / "builds"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
