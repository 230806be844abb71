from __future__ import annotations

from pathlib import Path

from provision.portage.render import (
    BuildContext,
    Signing,
    render_accept_keywords,
    render_all,
    render_binrepos_conf,
    render_client_make_conf,
    render_client_profile_packages,
    render_make_conf,
    render_repos_conf,
    render_world,
)
from provision.profiles import ProfileSet


def test_make_conf_desktop(profiles_dir: Path) -> None:
    desktop = ProfileSet(profiles_dir).get("desktop-amd64")
    ctx = BuildContext(pkgdir="/b/pkg", distdir="/b/dist", tmpdir="/b/tmp", unprivileged=True)
    text = render_make_conf(desktop, ctx)
    assert 'CFLAGS="-O2 -pipe -march=x86-64-v2"\n' in text
    assert 'USE="ipv6 -X"\n' in text
    assert 'PKGDIR="/b/pkg"\n' in text
    assert 'BINPKG_FORMAT="gpkg"\n' in text
    features = next(line for line in text.splitlines() if line.startswith("FEATURES="))
    assert "-sandbox" in features and "buildpkg" in features and "binpkg-signing" not in features
    assert "PKG_INSTALL_MASK" not in text


def test_make_conf_secure_boot(profiles_dir: Path) -> None:
    """Gentoo's way: USE=secureboot and the key in make.conf; kernels sign themselves."""
    ps = ProfileSet(profiles_dir)
    ctx = BuildContext(secureboot_keys="/var/lib/provision/keys/secureboot")
    text = render_make_conf(ps.get("vm-amd64-sb"), ctx)
    assert 'SECUREBOOT_SIGN_KEY="/var/lib/provision/keys/secureboot/db.key"\n' in text
    assert 'SECUREBOOT_SIGN_CERT="/var/lib/provision/keys/secureboot/db.crt"\n' in text
    assert 'MODULES_SIGN_KEY="/var/lib/provision/keys/secureboot/db.key"\n' in text
    use = next(line for line in text.splitlines() if line.startswith("USE="))
    assert "secureboot" in use.split('"')[1].split() and "modules-sign" in use
    plain = render_make_conf(ps.get("vm-amd64"), ctx)
    assert "SECUREBOOT" not in plain and "secureboot" not in plain
    # clients get the same USE (their binary packages match) and never the key
    client = render_client_make_conf(ps.get("vm-amd64-sb"), verify_home="/etc/portage/gnupg")
    assert use + "\n" in client and "SIGN_KEY" not in client


def test_make_conf_signing_and_binary_only(profiles_dir: Path) -> None:
    server = ProfileSet(profiles_dir).get("server-amd64")
    ctx = BuildContext(signing=Signing("/k/sign", "/k/verify", "ABCDEF"))
    text = render_make_conf(server, ctx)
    assert "binpkg-signing" in text
    assert 'BINPKG_GPG_SIGNING_KEY="ABCDEF"\n' in text
    assert 'BINPKG_GPG_VERIFY_GPG_HOME="/k/verify"\n' in text
    assert 'PKG_INSTALL_MASK="/usr/include' in text
    client = render_client_make_conf(server, verify_home="/etc/portage/gnupg")
    assert 'INSTALL_MASK="/usr/include' in client
    assert "binpkg-request-signature" in client


def test_world_includes_kernel(profiles_dir: Path) -> None:
    laptop = ProfileSet(profiles_dir).get("laptop-amd64")
    assert render_world(laptop).splitlines() == [
        "app-admin/democonf",
        "app-misc/greeter",
        "app-misc/hello",
        "sys-kernel/demo-kernel",
    ]


def test_render_all_files(profiles_dir: Path) -> None:
    laptop = ProfileSet(profiles_dir).get("laptop-amd64")
    files = render_all(laptop, BuildContext())
    assert files["etc/portage/package.use/provision"] == "dev-libs/cyc-b extras\n"
    assert files["etc/kernel/config.d/provision.config"].splitlines()[-1] == "CONFIG_CFG80211=y"
    assert render_accept_keywords(laptop) == ""


def test_repos_and_binrepos(profiles_dir: Path) -> None:
    desktop = ProfileSet(profiles_dir).get("desktop-amd64")
    text = render_repos_conf(desktop, {"provision-demo": "/snap/repo"})
    assert "main-repo = provision-demo" in text
    assert "location = /snap/repo" in text
    bin_text = render_binrepos_conf("desktop", "http://srv/binhost/desktop/")
    assert "verify-signature = true" in bin_text
    assert "sync-uri = http://srv/binhost/desktop/" in bin_text


def test_client_profile_packages(profiles_dir: Path) -> None:
    ps = ProfileSet(profiles_dir)
    assert render_client_profile_packages(ps.get("desktop-amd64")) == ""
    lines = render_client_profile_packages(ps.get("server-amd64")).splitlines()
    assert "-*sys-devel/gcc" in lines and "-*sys-devel/binutils" in lines
