"""Issue 4 on real Portage: bootstrap steps break a USE-conditional cycle; a needed unstable
version stops the pass with the accept_keywords lines that would unmask it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from provision.portage import gpkg
from provision.portage.render import render_client_profile_packages
from provision.profiles import ProfileSet
from provision.run import run
from provision.signing import export_public_key, load_key, stop_agents
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import (
    client_dir,
    make_client,
    make_test_profile,
    provision,
    serve,
)

HEAD = f"""description = "builder depth test"
packages = [{{packages}}]
[portage]
profile = "default/linux/amd64/23.0"
{{portage}}
[[repositories]]
name = "provision-demo"
location = "{DEMO_REPO}"
"""


def write_profile(directory: Path, packages: list[str], portage: str = "", tail: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = HEAD.format(packages=", ".join(f'"{p}"' for p in packages), portage=portage)
    (directory / "t.toml").write_text(text + tail)
    return directory


def status(data: Path, profiles: Path) -> dict[str, str]:
    row = json.loads(provision(data, "status", "--json", "t", profiles=profiles).stdout)[0]
    assert isinstance(row, dict)
    return row


def test_bootstrap_steps_break_the_cycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    profiles = write_profile(tmp_path / "p", ["dev-libs/cyc-a"])
    try:
        res = provision(data, "build", "t", profiles=profiles, check=False)
        assert res.returncode == 1
        assert (
            "held: update: circular dependencies: dev-libs/cyc-b-1.0 -> dev-libs/cyc-a-1.0"
            in res.stdout
        )
        assert 'atom = "=dev-libs/cyc-b-1.0"' in res.stdout and 'use = ["-extras"]' in res.stdout
        row = status(data, profiles)
        assert row["state"] == "held" and "circular dependencies" in row["error"]
        assert current_snapshot(data, "t") is None

        # the admin adds the step Portage suggested; the cycle is broken
        write_profile(
            tmp_path / "p",
            ["dev-libs/cyc-a"],
            tail='[[bootstrap]]\natom = "dev-libs/cyc-b"\nuse = ["-extras"]\n',
        )
        provision(data, "build", "--trigger", "t", profiles=profiles)
        res = provision(data, "build", "t", profiles=profiles)
        assert "published" in res.stdout
        snap = current_snapshot(data, "t")
        assert snap is not None
        entries = read_index(snap / "binhost").entries
        by_cpv = {(e["CPV"], e.get("USE", "")) for e in entries}
        assert "dev-libs/cyc-a-1.0" in {c for c, _ in by_cpv}
        # the final cyc-b is built with its default USE=extras (the bootstrap one without it)
        assert any(c == "dev-libs/cyc-b-1.0" and "extras" in u.split() for c, u in by_cpv)
    finally:
        stop_agents(data / "keys")


def test_keyword_masked_update_stops_with_the_lines_to_add(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kw = '[portage.accept_keywords]\n"www-client/firefox" = ["~amd64"]\n'
    profiles = write_profile(tmp_path / "p", ["www-client/firefox"], tail=kw)
    try:
        res = provision(data, "build", "t", profiles=profiles, check=False)
        assert res.returncode == 1
        assert "keyword-masked (unstable) versions needed: =dev-libs/nss-3.46" in res.stdout
        assert "  =dev-libs/nss-3.46 ~amd64" in res.stdout
        assert "(or the whole branch: =dev-libs/nss-3* ~amd64)" in res.stdout
        row = status(data, profiles)
        assert row["state"] == "held"
        assert "=dev-libs/nss-3* ~amd64" in row["advice"]
        assert current_snapshot(data, "t") is None

        # the seeds' answer: unmask the whole nss-3 branch, so the next bump does not stop us
        kw2 = kw + '"=dev-libs/nss-3*" = ["~amd64"]\n'
        write_profile(tmp_path / "p", ["www-client/firefox"], tail=kw2)
        provision(data, "build", "--trigger", "t", profiles=profiles)
        provision(data, "build", "t", profiles=profiles)
        snap = current_snapshot(data, "t")
        assert snap is not None
        cpvs = read_index(snap / "binhost").cpvs()
        assert cpvs == [
            "app-misc/hello-1.0",
            "dev-libs/nss-3.46",
            "sys-apps/demo-base-1.0",
            "www-client/firefox-1.0",
        ]
    finally:
        stop_agents(data / "keys")


def test_kernel_abi_check_refuses_then_publishes_with_the_kernel(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pkgs = ["app-misc/hello", "app-misc/kernel-hungry"]
    kernel = '[kernel]\npackage = "sys-kernel/demo-kernel"\nmin_version = "{v}"\n'
    profiles = write_profile(tmp_path / "p", pkgs, tail=kernel.format(v="4.19"))
    try:
        res = provision(data, "build", "t", profiles=profiles, check=False)
        assert res.returncode == 1
        assert "publication refused: kernel ABI check: kernel-hungry-1.0-1.gpkg.tar:" in res.stdout
        assert "/usr/bin/kernel-hungry needs Linux 6.9.0 (profile minimum 4.19.0)" in res.stdout
        assert current_snapshot(data, "t") is None

        # the fleet's kernels are new enough after all: raise the minimum, trigger
        write_profile(tmp_path / "p", pkgs, tail=kernel.format(v="6.9"))
        provision(data, "build", "--trigger", "t", profiles=profiles)
        provision(data, "build", "t", profiles=profiles)
        snap = current_snapshot(data, "t")
        assert snap is not None
        cpvs = read_index(snap / "binhost").cpvs()
        assert "sys-kernel/demo-kernel-6.1.0" in cpvs and "app-misc/kernel-hungry-1.0" in cpvs
    finally:
        stop_agents(data / "keys")


def test_soname_bump_rebuilds_consumers_and_clients_follow(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = make_test_profile(tmp_path / "p", repo, ["app-misc/greeter"])
    profile = ProfileSet(profiles).get("t")
    data = tmp_path / "data"
    try:
        provision(data, "build", "t", profiles=profiles)
        with serve(data, profiles) as url, client_dir() as where:
            client = make_client(
                where / "c", profile, url, export_public_key(load_key(data / "keys"))
            )
            client.run("emerge", ["--ask=n", "app-misc/greeter"], log_path=tmp_path / "c1.log")
            assert run([where / "c/usr/bin/greeter"]).stdout == "greetings from libgreet (abi 1)\n"

            # upstream bumps the soname (libgreet.so.1 -> .so.2, subslot 0/1 -> 0/2)
            lib = repo / "dev-libs/libgreet"
            text = (
                (lib / "libgreet-1.0.ebuild")
                .read_text()
                .replace("SONAME_MAJOR=1", "SONAME_MAJOR=2")
            )
            (lib / "libgreet-1.1.ebuild").write_text(text)
            provision(data, "build", "t", profiles=profiles)
            snap = current_snapshot(data, "t")
            assert snap is not None
            greeters = [
                e
                for e in read_index(snap / "binhost").entries
                if e["CPV"] == "app-misc/greeter-1.0"
            ]
            assert sorted(e["BUILD_ID"] for e in greeters) == ["1", "2"]  # rebuilt, new BUILD_ID

            client.run(
                "emerge",
                ["--ask=n", "--update", "--deep", "--newuse", "--rebuilt-binaries", "@world"],
                log_path=tmp_path / "c2.log",
            )
            assert "dev-libs/libgreet-1.1" in client.installed()
            assert run([where / "c/usr/bin/greeter"]).stdout == "greetings from libgreet (abi 2)\n"
    finally:
        stop_agents(data / "keys")


FAKE_GCC = """EAPI=8
DESCRIPTION="Demo stand-in for the compiler (in @system of the test repository)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
src_install() {
\tinsinto /usr/share/fake-gcc
\tnewins - marker <<< "toolchain"
}
"""


def test_binary_only_profile_ships_no_headers_and_clients_no_toolchain(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    (repo / "sys-devel/gcc").mkdir(parents=True)
    (repo / "sys-devel/gcc/gcc-14.ebuild").write_text(FAKE_GCC)
    (repo / "profiles/categories").write_text(
        (repo / "profiles/categories").read_text() + "sys-devel\n"
    )
    system = repo / "profiles/default/linux/amd64/23.0/packages"
    system.write_text(system.read_text() + "*sys-devel/gcc\n")
    profiles = make_test_profile(tmp_path / "p", repo, ["app-misc/greeter"])
    text = (
        (profiles / "t.toml").read_text().replace("[portage]\n", "[portage]\nbinary_only = true\n")
    )
    (profiles / "t.toml").write_text(text)
    profile = ProfileSet(profiles).get("t")
    data = tmp_path / "data"
    try:
        provision(data, "build", "t", profiles=profiles)  # greeter builds: the root keeps headers
        snap = current_snapshot(data, "t")
        assert snap is not None
        index = {e["CPV"]: e for e in read_index(snap / "binhost").entries}
        assert "sys-devel/gcc-14" in index  # the builder has its toolchain...
        lib = snap / "binhost" / index["dev-libs/libgreet-1.0"]["PATH"]
        files = [f.path for f in gpkg.image_manifest(lib)]
        assert any(p.endswith("/libgreet.so.1") for p in files)
        assert not any("/usr/include" in p for p in files)  # ...the package has no headers

        with serve(data, profiles) as url, client_dir() as where:
            client = make_client(
                where / "c", profile, url, export_public_key(load_key(data / "keys"))
            )
            packages = where / "c/etc/portage/profile/packages"
            packages.parent.mkdir(parents=True, exist_ok=True)
            packages.write_text(render_client_profile_packages(profile))
            client.run(
                "emerge", ["--ask=n", "@system", "app-misc/greeter"], log_path=tmp_path / "c.log"
            )
            installed = client.installed()
            assert "app-misc/greeter-1.0" in installed and "sys-apps/demo-base-1.0" in installed
            assert not any(
                cpv.startswith("sys-devel/gcc") for cpv in installed
            )  # ...the client none
            assert run([where / "c/usr/bin/greeter"]).stdout.startswith("greetings from libgreet")
    finally:
        stop_agents(data / "keys")
