"""Portage configuration in the target: make.conf, binrepos.conf (signatures verified), the
server's key in /etc/portage/gnupg, repos.conf and the ebuild-repository snapshot."""

from __future__ import annotations

import shlex

from provision.errors import InstallError
from provision.fsutil import symlink_atomic, write_atomic
from provision.install.config import InstallConfig
from provision.install.context import InstallContext
from provision.install.fetch import download
from provision.portage.render import (
    render_accept_keywords,
    render_binrepos,
    render_client_make_conf,
    render_package_use,
    render_repos_conf,
)

NAME = "portage"
GNUPG = "/etc/portage/gnupg"
REPO_TARBALL = "var/tmp/provision-repo.tar"
REPOS = "/var/db/repos"
SERVER_PRIORITY = 9999  # the server itself; mirrors come with their own (mirrors.toml)


def repo_dir(config: InstallConfig) -> str:
    return f"/var/db/repos/{config.profile.main_repository.name}"


def portage_files(config: InstallConfig, *, has_sandbox: bool = True) -> dict[str, str]:
    """Path in the target → content (pure).  Without a sandbox binary in the target (a
    non-Gentoo test stage) the sandbox FEATURES are turned off."""
    profile = config.profile
    locations = {r.name: f"/var/db/repos/{r.name}" for r in profile.repositories}
    return {
        "/etc/portage/make.conf": render_client_make_conf(
            profile, verify_home=GNUPG, unprivileged=not has_sandbox
        ),
        "/etc/portage/binrepos.conf/provision.conf": render_binrepos(
            [("provision", config.sources.binhost_url, SERVER_PRIORITY)]
            + [
                (f"provision-mirror-{n}", url, prio)
                for n, (prio, url) in enumerate(config.sources.mirrors(), 1)
            ]
        ),
        "/etc/portage/repos.conf/provision.conf": render_repos_conf(profile, locations),
        "/etc/portage/package.use/provision": render_package_use(profile),
        "/etc/portage/package.accept_keywords/provision": render_accept_keywords(profile),
    }


def profile_link(config: InstallConfig) -> str:
    """make.profile's target, relative to /etc/portage."""
    return f"../../{repo_dir(config).lstrip('/')}/profiles/{config.profile.portage.profile}"


def tar_argv(ctx: InstallContext) -> list[str]:
    """The snapshot tarball holds one top directory per repository (<name>/...)."""
    dest = ctx.path(REPOS)
    return ["tar", "--extract", "--file", str(ctx.path(REPO_TARBALL)), "--directory", str(dest)]


def describe(ctx: InstallContext) -> list[str]:
    out = [f"write {ctx.path(p)}" for p in portage_files(ctx.config)]
    out.append(f"symlink {ctx.path('/etc/portage/make.profile')} -> {profile_link(ctx.config)}")
    out.append(
        f"keyring {ctx.path(GNUPG)}: the key from {ctx.config.sources.key_url}, ownertrust 6"
    )
    out.append(f"download {ctx.config.sources.repo_url} -> {ctx.path(REPO_TARBALL)}")
    out.append(shlex.join(tar_argv(ctx)))
    return out


def apply(ctx: InstallContext) -> None:
    has_sandbox = ctx.path("/usr/bin/sandbox").exists()
    for path, text in portage_files(ctx.config, has_sandbox=has_sandbox).items():
        write_atomic(ctx.path(path), text)
    symlink_atomic(profile_link(ctx.config), ctx.path("/etc/portage/make.profile"))
    if ctx.keyring is None:
        raise InstallError("no server key: the preflight did not fetch key.asc")
    ctx.note(f"install the server's key {ctx.keyring.fingerprint} into {ctx.path(GNUPG)}")
    ctx.keyring.install_into(ctx.path(GNUPG))
    repo = ctx.path(repo_dir(ctx.config))
    if ctx.config.sources.repo_url:
        ctx.path(REPOS).mkdir(parents=True, exist_ok=True)
        download(ctx.config.sources.repo_url, ctx.path(REPO_TARBALL))
        ctx.sh(tar_argv(ctx))
        ctx.path(REPO_TARBALL).unlink()
    if not (repo / "profiles").is_dir():
        raise InstallError(f"{repo}: no ebuild repository (the server sent no repo_url)")
