"""Snapshot bookkeeping (no processes): rollback, prune, status rendering, bwrap argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.builder.roots import Mounts, StageRoot
from provision.builder.status import profile_status, render_table
from provision.errors import ConfigError, NotFound
from provision.fsutil import symlink_atomic
from provision.signing import KeyInfo
from provision.snapshots.layout import DataLayout
from provision.snapshots.publish import prune, rollback
from provision.snapshots.read import current_snapshot, list_snapshots
from provision.snapshots.stage import install_stage_name


def _snapshots(data: Path, ids: list[str], current: str) -> DataLayout:
    layout = DataLayout(data)
    for sid in ids:
        (layout.snapshots("p") / sid / "binhost").mkdir(parents=True)
        (layout.snapshots("p") / sid / "binhost/Packages").write_text(
            "PACKAGES: 1\n\nCPV: a/b-1\nPATH: a/b/b-1-1.gpkg.tar\n"
        )
    symlink_atomic(current, layout.current_link("p"))
    return layout


def test_rollback_and_prune(tmp_path: Path) -> None:
    layout = _snapshots(tmp_path, ["s1", "s2", "s3"], "s3")
    (layout.snapshots("p") / ".incoming-s4").mkdir()
    assert list_snapshots(layout, "p") == ["s1", "s2", "s3"]
    assert rollback(layout, "p") == "s2"
    assert current_snapshot(tmp_path, "p") == layout.snapshots("p") / "s2"
    with pytest.raises(NotFound, match="no snapshot 'zz'"):
        rollback(layout, "p", "zz")
    assert prune(layout, "p", 1) == ["s1"]  # s2 is current: kept
    assert list_snapshots(layout, "p") == ["s2", "s3"]
    with pytest.raises(NotFound):
        rollback(DataLayout(tmp_path / "empty"), "p")


def test_status(tmp_path: Path) -> None:
    _snapshots(tmp_path, ["s1"], "s1")
    st = profile_status(tmp_path, "p", "http://srv:8080/")
    assert (st.state, st.snapshot, st.packages) == ("idle", "s1", 1)
    assert st.binhost_url == "http://srv:8080/binhost/p"
    assert "packages: 1" in render_table([st])
    none = profile_status(tmp_path, "q", "http://srv")
    assert (none.snapshot, none.packages) == ("", 0)


def test_stage_bwrap_argv_binds_repo_distdir_pkgdir_keys() -> None:
    key = KeyInfo("F" * 40, Path("/d/keys/sign"), Path("/d/keys/verify"), "u")
    mounts = Mounts(
        Path("/d/root"), {"gentoo": Path("/d/snap/gentoo")}, Path("/d/pkg"), Path("/d/dist"), key
    )
    argv = StageRoot(Path("/s.tar")).bwrap_argv(mounts, "[gentoo]\n")
    text = " ".join(argv)
    assert argv[:4] == ["bwrap", "--bind", "/d/root", "/"]
    assert "--ro-bind /d/snap/gentoo /var/db/repos/gentoo" in text
    assert "--bind /d/dist /var/cache/distfiles" in text
    assert "--bind /d/pkg /var/cache/binpkgs" in text
    assert "--bind /d/keys /var/lib/provision/keys" in text
    assert "--setenv PORTAGE_OVERRIDE_EPREFIX " in text + " "


@pytest.mark.parametrize(
    ("tarball", "name"),
    [
        pytest.param("stage3-amd64-openrc-20240101T170309Z.tar.xz", "stage.tar.xz", id="xz"),
        pytest.param("rootfs-bookworm-portage-3.0.83-r2.tar.zst", "stage.tar.zst", id="zst"),
        pytest.param("x.tar.gz", "stage.tar.gz", id="gz"),
        pytest.param("x.tar", "stage.tar", id="plain"),
    ],
)
def test_install_stage_name(tarball: str, name: str) -> None:
    assert install_stage_name(Path(tarball)) == name


def test_install_stage_name_refuses_other_files() -> None:
    with pytest.raises(ConfigError, match="not a stage tarball name"):
        install_stage_name(Path("stage3.tar.bz2"))
