"""Bootloader lookup (search path, package names in errors) and the TFTP tree layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.pxe import bootloaders
from provision.pxe.bootloaders import Found, find_all
from provision.pxe.layout import PXELINUX_DEFAULT, TreeFile, plan_tree, write_tree
from provision.secureboot.files import LiveChain

BASE = "http://192.0.2.1:8080"


def fake_dist(root: Path, files: dict[str, str]) -> list[str]:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return [str(root / d) for d in ("usr/share/ipxe", "usr/share/syslinux")]


GENTOO = {
    "usr/share/ipxe/undionly.kpxe": "bios",
    "usr/share/ipxe/ipxe.efi": "uefi",
    "usr/share/ipxe/snponly.efi": "snp",
    "usr/share/syslinux/lpxelinux.0": "pxelinux",
    "usr/share/syslinux/ldlinux.c32": "ldlinux",
}


def test_find_gentoo_layout(tmp_path: Path) -> None:
    search = fake_dist(tmp_path, GENTOO)
    found = find_all(search, uefi="snponly.efi", pxelinux=True)
    assert found.bios == tmp_path / "usr/share/ipxe/undionly.kpxe"
    assert found.uefi == tmp_path / "usr/share/ipxe/snponly.efi"
    assert found.pxelinux == tmp_path / "usr/share/syslinux/lpxelinux.0"
    assert found.ldlinux == tmp_path / "usr/share/syslinux/ldlinux.c32"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        pytest.param(
            "usr/share/ipxe/undionly.kpxe",
            "undionly.kpxe: not found .*Debian: apt install ipxe; Gentoo: emerge sys-firmware/ipxe",
            id="ipxe-bios",
        ),
        pytest.param(
            "usr/share/ipxe/ipxe.efi",
            r"ipxe.efi: not found .*Gentoo: emerge sys-firmware/ipxe\[efi\]",
            id="ipxe-uefi",
        ),
        pytest.param(
            "usr/share/syslinux/ldlinux.c32",
            "ldlinux.c32: not found .*Debian: apt install syslinux-common; Gentoo: emerge sys-boot",
            id="ldlinux",
        ),
    ],
)
def test_missing_names_package(tmp_path: Path, missing: str, message: str) -> None:
    search = fake_dist(tmp_path, {k: v for k, v in GENTOO.items() if k != missing})
    with pytest.raises(ConfigError, match=message):
        find_all(search, pxelinux=True)


def test_search_path_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bootloaders.ENV_PATH, "/a:/b")
    assert bootloaders.search_path() == (Path("/a"), Path("/b"))
    monkeypatch.delenv(bootloaders.ENV_PATH)
    paths = [str(p) for p in bootloaders.search_path()]
    for debian_or_gentoo in (
        "/usr/lib/ipxe",
        "/usr/share/ipxe",
        "/usr/lib/PXELINUX",
        "/usr/lib/syslinux/modules/bios",
        "/usr/share/syslinux",
        "/boot",
    ):
        assert debian_or_gentoo in paths  # fmt: skip


@pytest.mark.parametrize(
    ("found", "lkrn", "names"),
    [
        pytest.param(
            Found(Path("/d/undionly.kpxe"), Path("/d/ipxe.efi"), "ipxe.efi"),
            None,
            {"boot.ipxe": None, "ipxe.efi": "/d/ipxe.efi", "undionly.kpxe": "/d/undionly.kpxe"},
            id="ipxe-only",
        ),
        pytest.param(
            Found(Path("/d/u"), Path("/d/s"), "snponly.efi", Path("/s/lpxelinux.0"), Path("/s/l")),
            Path("/d/ipxe.lkrn"),
            {"boot.ipxe": None, "ipxe.lkrn": "/d/ipxe.lkrn", "ldlinux.c32": "/s/l",
             "pxelinux.0": "/s/lpxelinux.0", "pxelinux.cfg/default": None,
             "pxelinux.ipxe": None, "snponly.efi": "/d/s", "undionly.kpxe": "/d/u"},
            id="with-pxelinux",
        ),
        pytest.param(
            Found(Path("/d/undionly.kpxe"), Path("/d/ipxe.efi"), "ipxe.efi"),
            None,
            {"boot.ipxe": None, "grub/grub.cfg": None, "grubx64.efi": "/sb/grubnet",
             "ipxe.efi": "/d/ipxe.efi", "mmx64.efi": "/sb/mm", "shimx64.efi": "/sb/shim",
             "undionly.kpxe": "/d/undionly.kpxe"},
            id="with-secure-boot",
        ),
    ],
)  # fmt: skip
def test_plan_tree(
    found: Found, lkrn: Path | None, names: dict[str, str | None], request: pytest.FixtureRequest
) -> None:
    chain = None
    if "with-secure-boot" in request.node.name:
        chain = LiveChain(Path("/sb/shim"), Path("/sb/mm"), Path("/sb/grubnet"))
    plan = plan_tree(found, BASE, ipxe_lkrn=lkrn, secure_boot=chain)
    assert {f.name: (str(f.source) if f.source else None) for f in plan} == names
    assert [f.name for f in plan] == sorted(names)
    texts = {f.name: f.text for f in plan if f.text is not None}
    assert f"chain --autofree {BASE}/boot/${{mac}}.ipxe" in str(texts["boot.ipxe"])
    if "pxelinux.cfg/default" in texts:
        assert texts["pxelinux.cfg/default"] == PXELINUX_DEFAULT
        assert "INITRD pxelinux.ipxe" in PXELINUX_DEFAULT  # ipxe.lkrn runs it as its script
        script = str(texts["pxelinux.ipxe"])
        assert (
            script.startswith("#!ipxe\n")
            and f"chain --autofree {BASE}/boot/${{mac}}.ipxe" in script
        )
    if "grub/grub.cfg" in texts:
        assert "configfile $prefix/hosts/${net_default_mac}.cfg" in str(texts["grub/grub.cfg"])


def test_pxelinux_needs_lkrn() -> None:
    found = Found(Path("/u"), Path("/e"), "ipxe.efi", Path("/p"), Path("/l"))
    with pytest.raises(ConfigError, match=r"needs ipxe\.lkrn"):
        plan_tree(found, BASE)


def test_write_tree_copies_and_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "undionly.kpxe"
    src.write_bytes(b"\x55\xaa ipxe")
    root = tmp_path / "tftp"
    files = [TreeFile("undionly.kpxe", source=src), TreeFile("sub/x.txt", text="hi\n")]
    assert write_tree(root, files) == ["undionly.kpxe", "sub/x.txt"]
    assert (root / "undionly.kpxe").read_bytes() == b"\x55\xaa ipxe"
    assert not (root / "undionly.kpxe").is_symlink()  # the TFTP server refuses outward links
    assert write_tree(root, files) == []
    with pytest.raises(ConfigError, match="exactly one of source, text"):
        TreeFile("x")
