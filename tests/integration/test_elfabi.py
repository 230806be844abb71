"""The kernel ABI check on packages built by real Portage."""

from __future__ import annotations

from pathlib import Path

from provision.portage import gpkg
from provision.portage.elfabi import check_packages, parse_version
from provision.profiles import ProfileSet
from tests.integration.portage_env import demo_prefix


def test_abi_check_finds_the_package_that_needs_a_newer_kernel(
    tmp_path: Path, profiles_dir: Path
) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    prefix, pkgdir = demo_prefix(tmp_path, profile)
    prefix.run("emerge", ["--ask=n", "--buildpkgonly", "app-misc/hello", "app-misc/kernel-hungry"])
    packages = sorted(pkgdir.glob("*/*/*.gpkg.tar"))
    assert [p.name for p in packages] == ["hello-1.0-1.gpkg.tar", "kernel-hungry-1.0-1.gpkg.tar"]
    assert not any(gpkg.signed(p) for p in packages)  # this prefix does not sign

    violations = check_packages(packages, parse_version("4.19"))
    assert len(violations) == 1
    v = violations[0]
    assert v.package == "kernel-hungry-1.0-1.gpkg.tar"
    assert v.path.endswith("/usr/bin/kernel-hungry")
    assert v.needs == (6, 9, 0)
    assert v.describe(parse_version("4.19")).endswith("needs Linux 6.9.0 (profile minimum 4.19.0)")
    # hello carries glibc's crt note (3.2.0): fine for 3.2, refused for an older target
    assert check_packages(packages, parse_version("6.9")) == []
    old = check_packages(packages, parse_version("3.1"))
    assert {x.package for x in old} == {"hello-1.0-1.gpkg.tar", "kernel-hungry-1.0-1.gpkg.tar"}

    meta = gpkg.metadata(packages[0])
    assert meta["CATEGORY"].strip() == "app-misc" and meta["PF"].strip() == "hello-1.0"
    files = {f.path: f for f in gpkg.image_manifest(packages[0])}
    hello = next(f for p, f in files.items() if p.endswith("/usr/bin/hello"))
    assert hello.kind == "file" and len(hello.sha256) == 64
