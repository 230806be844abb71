"""Build roots behind one interface: where a pass runs emerge.

- PrefixRoot: Portage from PyPI in an EPREFIX (builds/<profile>/root); host paths everywhere.
- StageRoot: a root filesystem (a Gentoo stage3 tarball) unpacked once per profile and entered
  with bubblewrap; the repository snapshot, DISTDIR, PKGDIR and the key homes are bind-mounted
  at fixed paths; EPREFIX is empty, so the packages suit a normal root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from provision.builder.settings import RootKind, RootSpec
from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.image.pack import merge_argv, merge_into
from provision.portage.prefix import Prefix
from provision.portage.render import BuildContext, Signing, render_all, render_repos_conf
from provision.profiles.model import Profile
from provision.run import Result, run
from provision.signing import KeyInfo

# Inside a stage root.
STAGE_PKGDIR = "/var/cache/binpkgs"
STAGE_DISTDIR = "/var/cache/distfiles"
STAGE_REPOS = "/var/db/repos"
STAGE_KEYS = "/var/lib/provision/keys"
STAGE_IMAGE = "/var/tmp/provision-image"
DISTCC_MASQUERADE = "/usr/lib/distcc"  # Debian's compiler links (Gentoo: /usr/lib/distcc/bin)
STAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Mounts:
    """Host paths a pass uses."""

    root: Path
    repos: dict[str, Path]  # repository name -> snapshot directory
    pkgdir: Path
    distdir: Path
    key: KeyInfo | None  # None: packages are built unsigned (a farm worker)


class BuildRoot(Protocol):
    kind: str

    def check(self) -> None:
        """Refuse bad input (missing tarball...) before anything is written."""

    def prepare(
        self, profile: Profile, mounts: Mounts, jobs: int, distcc_hosts: tuple[str, ...] = ()
    ) -> None:
        """Create the root if needed and write the profile's Portage config for this pass."""

    def emerge(
        self, mounts: Mounts, args: list[str], log_path: Path, env: Mapping[str, str] = {}
    ) -> Result:
        """Run emerge in the root (never raises for a non-zero exit: check the Result).

        env: extra variables for this run only (a bootstrap step's USE)."""

    def tool(self, mounts: Mounts, name: str, args: list[str], log_path: Path) -> Result:
        """Run another Portage program (emaint...) in the root; raises CommandError on failure."""

    def merge_image(self, mounts: Mounts, image_root: Path, world: str, log_path: Path) -> None:
        """Merge @system + the world set from the staging PKGDIR into the empty image_root
        (binary packages only), as Portage merges into any ROOT."""


def make_root(spec: RootSpec) -> BuildRoot:
    if spec.kind is RootKind.STAGE:
        assert spec.stage is not None
        return StageRoot(spec.stage)
    return PrefixRoot()


# The builder verifies each package it has just signed.  As root, Portage would do that as
# `nobody`, which cannot read a keyring inside a private (0700) data dir: verify as the builder.
BUILDER_MAKE_CONF = (
    "# provision builder: verify freshly signed packages as the builder itself\n"
    'GPG_VERIFY_USER_DROP=""\n'
    'GPG_VERIFY_GROUP_DROP=""\n'
)


def _portage_files(profile: Profile, ctx: BuildContext) -> dict[str, str]:
    files = render_all(profile, ctx)
    files["etc/portage/make.conf"] += BUILDER_MAKE_CONF
    return files


class PrefixRoot:
    kind = "prefix"

    def check(self) -> None:
        from provision.portage.prefix import portage_share, portage_tool

        portage_share()
        portage_tool("emerge")

    def context(
        self, mounts: Mounts, jobs: int, distcc_hosts: tuple[str, ...] = ()
    ) -> BuildContext:
        return BuildContext(
            pkgdir=str(mounts.pkgdir),
            distdir=str(mounts.distdir),
            tmpdir=str(mounts.root / "var" / "tmp"),
            jobs=jobs,
            unprivileged=True,
            signing=mounts.key.signing if mounts.key else None,
            distcc_hosts=distcc_hosts,
            secureboot_keys=str(mounts.key.sign_home.parent / "secureboot") if mounts.key else "",
        )

    def prepare(
        self, profile: Profile, mounts: Mounts, jobs: int, distcc_hosts: tuple[str, ...] = ()
    ) -> None:
        locations = {name: str(path) for name, path in mounts.repos.items()}
        main = mounts.repos[profile.main_repository.name]
        (mounts.root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
        Prefix(mounts.root).create(
            repos_conf=render_repos_conf(profile, locations),
            portage_profile=main / "profiles" / profile.portage.profile,
            files=_portage_files(profile, self.context(mounts, jobs, distcc_hosts)),
            distcc_masquerade=Path(DISTCC_MASQUERADE) if distcc_hosts else None,
        )

    def emerge(
        self, mounts: Mounts, args: list[str], log_path: Path, env: Mapping[str, str] = {}
    ) -> Result:
        return Prefix(mounts.root).run(
            "emerge", args, log_path=log_path, timeout=None, check=False, extra_env=env
        )

    def tool(self, mounts: Mounts, name: str, args: list[str], log_path: Path) -> Result:
        return Prefix(mounts.root).run(name, args, log_path=log_path, timeout=None)

    def merge_image(self, mounts: Mounts, image_root: Path, world: str, log_path: Path) -> None:
        merge_into(
            Prefix(mounts.root), image_root, pkgdir=mounts.pkgdir, world=world, log_path=log_path
        )


class StageRoot:
    kind = "stage"

    def __init__(self, tarball: Path) -> None:
        self.tarball = tarball

    def check(self) -> None:
        if not self.tarball.is_file():
            raise ConfigError(str(self.tarball), 'stage tarball not found (root = "stage")')
        if shutil.which("bwrap") is None:
            raise ConfigError("bwrap", "bubblewrap is not installed (apt-get install bubblewrap)")

    def context(
        self, jobs: int, fingerprint: str | None, distcc_hosts: tuple[str, ...] = ()
    ) -> BuildContext:
        """fingerprint None: no signing (the key homes are not mounted either)."""
        keys = STAGE_KEYS
        return BuildContext(
            distcc_hosts=distcc_hosts,  # the stage itself must carry distcc (sys-devel/distcc)
            pkgdir=STAGE_PKGDIR,
            distdir=STAGE_DISTDIR,
            tmpdir="/var/tmp",
            jobs=jobs,
            # no sandbox binary or portage user is assumed; bwrap already isolates the build
            unprivileged=True,
            signing=Signing(f"{keys}/sign", f"{keys}/verify", fingerprint) if fingerprint else None,
            secureboot_keys=f"{keys}/secureboot" if fingerprint else "",  # keys bind-mounted
        )

    def _unpack(self, root: Path) -> None:
        stamp = root / ".provision-stage"
        st = self.tarball.stat()
        tag = f"{self.tarball.resolve()} {st.st_size} {st.st_mtime_ns}"
        if stamp.is_file() and stamp.read_text() == tag:
            return
        if root.exists():
            shutil.rmtree(root)
        partial = root.with_name(root.name + ".unpacking")
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        run(
            ["tar", "-xpf", self.tarball, "-C", partial, "--numeric-owner", "--xattrs"],
            timeout=1800,
        )
        write_atomic(partial / ".provision-stage", tag)
        os.replace(partial, root)

    def prepare(
        self, profile: Profile, mounts: Mounts, jobs: int, distcc_hosts: tuple[str, ...] = ()
    ) -> None:
        self._unpack(mounts.root)
        ctx = self.context(jobs, mounts.key.fingerprint if mounts.key else None, distcc_hosts)
        locations = {name: f"{STAGE_REPOS}/{name}" for name in mounts.repos}
        for d in (STAGE_PKGDIR, STAGE_DISTDIR, STAGE_KEYS, "/var/tmp", "/etc/portage/repos.conf"):
            (mounts.root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for loc in locations.values():
            (mounts.root / loc.lstrip("/")).mkdir(parents=True, exist_ok=True)
        files = _portage_files(profile, ctx)
        files["etc/portage/repos.conf/provision.conf"] = render_repos_conf(profile, locations)
        for rel, text in files.items():
            write_atomic(mounts.root / rel, text)
        link = mounts.root / "etc/portage/make.profile"
        if link.is_symlink() or link.exists():
            link.unlink()
        main = locations[profile.main_repository.name]
        link.symlink_to(f"{main}/profiles/{profile.portage.profile}")

    def bwrap_argv(self, mounts: Mounts, repos_conf: str, env: Mapping[str, str] = {}) -> list[str]:
        """Pure: the bubblewrap command line that enters the root."""
        argv = ["bwrap", "--bind", str(mounts.root), "/", "--dev", "/dev", "--proc", "/proc"]
        argv += ["--tmpfs", "/tmp", "--die-with-parent", "--unshare-ipc", "--unshare-uts"]
        for name, path in sorted(mounts.repos.items()):
            argv += ["--ro-bind", str(path), f"{STAGE_REPOS}/{name}"]
        argv += ["--bind", str(mounts.distdir), STAGE_DISTDIR]
        argv += ["--bind", str(mounts.pkgdir), STAGE_PKGDIR]
        if mounts.key is not None:
            argv += ["--bind", str(mounts.key.sign_home.parent), STAGE_KEYS]
        argv += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        argv += ["--clearenv", "--setenv", "PATH", STAGE_PATH, "--setenv", "HOME", "/root"]
        for key, value in (
            ("LC_ALL", "C.UTF-8"),
            ("NOCOLOR", "true"),
            ("PORTAGE_TRUST_HELPER", ""),
            ("PORTAGE_USERNAME", "root"),
            ("PORTAGE_GRPNAME", "root"),
            ("TERM", "dumb"),
            ("PORTAGE_OVERRIDE_EPREFIX", ""),  # a normal root, whatever the Portage install
            # instead of the packaged default, which adds [gentoo] at /var/db/repos/gentoo
            ("PORTAGE_REPOSITORIES", repos_conf),
            *sorted(env.items()),
        ):
            argv += ["--setenv", key, value]
        return argv

    def emerge(
        self, mounts: Mounts, args: list[str], log_path: Path, env: Mapping[str, str] = {}
    ) -> Result:
        repos = mounts.root / "etc/portage/repos.conf/provision.conf"
        return run(
            [*self.bwrap_argv(mounts, repos.read_text(), env), "emerge", *args],
            env={},
            log_path=log_path,
            timeout=None,
            check=False,
        )

    def tool(self, mounts: Mounts, name: str, args: list[str], log_path: Path) -> Result:
        repos = mounts.root / "etc/portage/repos.conf/provision.conf"
        return run(
            [*self.bwrap_argv(mounts, repos.read_text()), name, *args],
            env={},
            log_path=log_path,
            timeout=None,
        )

    def merge_image(self, mounts: Mounts, image_root: Path, world: str, log_path: Path) -> None:
        write_atomic(image_root / "var/lib/portage/world", world)
        repos = mounts.root / "etc/portage/repos.conf/provision.conf"
        argv = self.bwrap_argv(mounts, repos.read_text(), {"ROOT": STAGE_IMAGE})
        # bwrap applies binds in order: the image directory goes in after the root itself
        run(
            [*argv[:4], "--bind", str(image_root), STAGE_IMAGE, *argv[4:], "emerge", *merge_argv()],
            env={},
            log_path=log_path,
            timeout=None,
        )
