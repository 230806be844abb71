"""A Portage EPREFIX made from the PyPI Portage: the `prefix` root kind, and test clients.

Layout (E = the prefix): E/etc/portage (make.conf, repos.conf, make.profile, package.*),
E/var/cache/edb/counter, E/var/lib/portage/world, and E/usr/share/portage pointing at the
venv's share/portage.  Commands run with PORTAGE_OVERRIDE_EPREFIX=E.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import write_if_changed
from provision.run import Result, run


def portage_share() -> Path:
    """The PyPI Portage's global config directory (venv/share/portage)."""
    for base in (Path(sys.prefix), Path(sys.base_prefix), Path("/usr")):
        candidate = base / "share" / "portage"
        if (candidate / "config" / "make.globals").is_file():
            return candidate
    raise ConfigError("portage", "Portage's share/portage not found (pip install portage)")


def portage_tool(name: str) -> str:
    """Path of a Portage program (emerge, ebuild, gpkg-sign...) from the running environment."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ConfigError("portage", f"{name} not found (pip install portage)")
    return found


@dataclass(frozen=True)
class Prefix:
    """An EPREFIX with its own Portage configuration."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "etc" / "portage"

    def create(
        self,
        *,
        repos_conf: str,
        portage_profile: Path,
        files: Mapping[str, str] = {},
        distcc_masquerade: Path | None = None,
    ) -> None:
        """Lay out the prefix; `files` are paths relative to the prefix -> content.

        distcc_masquerade: the host's distcc compiler links (Debian: /usr/lib/distcc), linked as
        EPREFIX/usr/lib/distcc where FEATURES=distcc looks for them.
        """
        share = portage_share()
        for d in (
            "etc/portage/repos.conf",
            "var/cache/edb",
            "var/lib/portage",
            "usr/share",
            "share",
            "tmp",
        ):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for link in (self.root / "usr/share/portage", self.root / "share/portage"):
            if not link.exists():
                link.symlink_to(share)
        # Portage's linkage map (preserved libs, @preserved-rebuild) runs EPREFIX/usr/bin/scanelf
        scanelf = shutil.which("scanelf")
        if scanelf is None:
            raise ConfigError("scanelf", "scanelf not found (Debian: apt install pax-utils)")
        tool = self.root / "usr" / "bin" / "scanelf"
        if not tool.is_symlink() and not tool.exists():
            tool.parent.mkdir(parents=True, exist_ok=True)
            tool.symlink_to(scanelf)
        counter = self.root / "var/cache/edb/counter"
        if not counter.exists():
            counter.write_text("100")
        profile_link = self.config / "make.profile"
        if not profile_link.is_symlink() or os.readlink(profile_link) != str(portage_profile):
            if profile_link.is_symlink() or profile_link.exists():
                profile_link.unlink()
            profile_link.symlink_to(portage_profile)
        # rendered every pass, written only when they differ (a no-op pass writes nothing)
        write_if_changed(self.config / "repos.conf" / "provision.conf", repos_conf)
        for rel, content in files.items():
            write_if_changed(self.root / rel, content)
        if distcc_masquerade is not None:
            if not distcc_masquerade.is_dir():
                raise ConfigError(
                    "distcc", f"{distcc_masquerade} not found (Debian: apt install distcc)"
                )
            link = self.root / "usr" / "lib" / "distcc"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(distcc_masquerade)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for Portage commands against this prefix."""
        env = {k: val for k, val in os.environ.items() if not k.startswith(("PORTAGE_", "EMERGE_"))}
        repos = self.config / "repos.conf" / "provision.conf"
        env.update(
            {
                "PORTAGE_OVERRIDE_EPREFIX": str(self.root),
                "PORTAGE_USERNAME": pwd.getpwuid(os.getuid()).pw_name,
                "PORTAGE_GRPNAME": grp.getgrgid(os.getgid()).gr_name,
                "PORTAGE_INST_UID": str(os.getuid()),
                "PORTAGE_INST_GID": str(os.getgid()),
                "PORTAGE_TRUST_HELPER": "",
                "PORTAGE_REPOSITORIES": repos.read_text() if repos.exists() else "",
                "NOCOLOR": "true",
                "LC_ALL": "C.UTF-8",
            }
        )
        if extra:
            env.update(extra)
        return env

    def run(
        self,
        tool: str,
        args: Sequence[str],
        *,
        log_path: Path | None = None,
        timeout: float | None = 3600,
        check: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run a Portage tool (emerge, ebuild, emaint, etc-update...) against this prefix."""
        return run(
            [portage_tool(tool), *args],
            env=self.env(extra_env),
            log_path=log_path,
            timeout=timeout,
            check=check,
        )

    def installed(self) -> list[str]:
        """category/name-version of every installed package (from var/db/pkg)."""
        vdb = self.root / "var" / "db" / "pkg"
        if not vdb.is_dir():
            return []
        return sorted(
            f"{c.name}/{p.name}"
            for c in vdb.iterdir()
            if c.is_dir()
            for p in c.iterdir()
            if p.is_dir()
        )
