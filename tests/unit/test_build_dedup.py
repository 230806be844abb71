from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from provision.builder.dedup import compile_env, kernel_exclusions, seed, siblings
from provision.builder.settings import RootKind, RootSpec
from provision.profiles import ProfileSet

PREFIX = RootSpec()


def test_siblings_share_the_compile_environment(profiles_dir: Path) -> None:
    ps = ProfileSet(profiles_dir)
    all_ = [(p, PREFIX) for p in ps]
    desktop = ps.get("desktop-amd64")
    # laptop inherits desktop's CFLAGS (its extra USE is Portage's business); server differs,
    # and shares its own with vm-amd64 (same flags, another kernel package)
    assert siblings(desktop, all_, PREFIX) == ["laptop-amd64"]
    assert siblings(ps.get("server-amd64"), all_, PREFIX) == ["vm-amd64", "vm-amd64-sb"]
    hotter = replace(desktop, portage=replace(desktop.portage, cflags="-O3 -pipe"))
    assert compile_env(hotter, PREFIX) != compile_env(desktop, PREFIX)
    assert compile_env(desktop, RootSpec(RootKind.STAGE, Path("/s.tar"))) != compile_env(
        desktop, PREFIX
    )


def test_kernel_not_shared_when_fragments_differ(profiles_dir: Path) -> None:
    ps = ProfileSet(profiles_dir)
    laptop, desktop = ps.get("laptop-amd64"), ps.get("desktop-amd64")
    assert kernel_exclusions(laptop, [desktop]) == ("sys-kernel/demo-kernel",)
    assert kernel_exclusions(desktop, [desktop]) == ()


def test_seed_links_missing_packages(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    for rel in ("app-misc/hello/hello-1.0-1.gpkg.tar", "sys-kernel/k/k-1-1.gpkg.tar"):
        (src / rel).parent.mkdir(parents=True)
        (src / rel).write_text(rel)
    (dst / "app-misc/hello").mkdir(parents=True)
    (dst / "app-misc/hello/hello-1.0-1.gpkg.tar").write_text("own build")
    assert seed(dst, [src], exclude=("sys-kernel/k",)) == 0
    assert (dst / "app-misc/hello/hello-1.0-1.gpkg.tar").read_text() == "own build"
    (dst / "app-misc/hello/hello-1.0-1.gpkg.tar").unlink()
    assert seed(dst, [src]) == 2
    assert (dst / "sys-kernel/k/k-1-1.gpkg.tar").stat().st_ino == (
        src / "sys-kernel/k/k-1-1.gpkg.tar"
    ).stat().st_ino
