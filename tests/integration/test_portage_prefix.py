"""Real Portage (PyPI) in an EPREFIX builds demo packages from the project's ebuild repository."""

from __future__ import annotations

from pathlib import Path

from provision.portage.prefix import Prefix
from provision.portage.render import BuildContext, render_all, render_repos_conf
from provision.profiles import ProfileSet
from provision.run import run


def test_real_portage_builds_demo_package(tmp_path: Path, profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("desktop-amd64")
    root = tmp_path / "prefix"
    ctx = BuildContext(
        pkgdir=str(tmp_path / "pkgs"),
        distdir=str(tmp_path / "dist"),
        tmpdir=str(tmp_path / "tmp"),
        unprivileged=True,
    )
    prefix = Prefix(root)
    repo = Path(profile.main_repository.location)
    prefix.create(
        repos_conf=render_repos_conf(profile),
        portage_profile=repo / "profiles" / profile.portage.profile,
        files=render_all(profile, ctx),
    )
    (tmp_path / "tmp").mkdir()
    prefix.run("emerge", ["--ask=n", "app-misc/greeter"], log_path=tmp_path / "emerge.log")
    assert prefix.installed() == ["app-misc/greeter-1.0", "dev-libs/libgreet-1.0"]
    out = run([root / "usr/bin/greeter"]).stdout
    assert out == "greetings from libgreet (abi 1)\n"
    packages = (tmp_path / "pkgs" / "Packages").read_text()
    assert "CPV: app-misc/greeter-1.0" in packages
    assert (tmp_path / "pkgs/app-misc/greeter/greeter-1.0-1.gpkg.tar").is_file()
    # the profile's kernel fragments reach the kernel package through /etc/kernel/config.d
    prefix.run("emerge", ["--ask=n", "sys-kernel/demo-kernel"], log_path=tmp_path / "emerge.log")
    config = (root / "boot/config-6.1.0-demo").read_text()
    assert "CONFIG_DRM=y" in config and "CONFIG_X86_64=y" in config
