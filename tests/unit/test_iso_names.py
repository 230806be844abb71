"""ISO 9660 / Joliet names for paths on the medium (pure)."""

from __future__ import annotations

import os

import pytest

from provision.errors import ConfigError
from provision.iso.names import NameTable, iso_dir_name, iso_file_name, joliet_name


@pytest.mark.parametrize(
    ("name", "iso"),
    [
        pytest.param("isolinux.bin", "ISOLINUX.BIN", id="plain"),
        pytest.param("vmlinuz", "VMLINUZ", id="no-extension"),
        pytest.param("hello-1.0-1.gpkg.tar", "HELLO_1_0_1_GPKG.TAR", id="dots-and-dashes"),
        pytest.param(".hidden", "_HIDDEN", id="leading-dot"),
        pytest.param("a" * 40 + ".toml", "A" * 25 + ".TOML", id="long-stem"),
        pytest.param("x.verylongextension", "X.VERYLONG", id="long-extension"),
        pytest.param("Ünïcode name.txt", "_N_CODE_NAME.TXT", id="non-ascii"),
    ],
)
def test_iso_file_name(name: str, iso: str) -> None:
    assert iso_file_name(name) == iso
    assert len(iso) <= 30


def test_iso_dir_name() -> None:
    assert iso_dir_name("app-misc") == "APP_MISC"
    assert len(iso_dir_name("d" * 50)) == 31


def test_table_assigns_three_names() -> None:
    t = NameTable()
    d = t.add("provision", is_dir=True)
    f = t.add("provision/config.toml", is_dir=False)
    assert (d.iso, d.joliet, d.rr_name) == ("/PROVISION", "/provision", "provision")
    assert (f.iso, f.joliet, f.rr_name) == (
        "/PROVISION/CONFIG.TOML;1",
        "/provision/config.toml",
        "config.toml",
    )


def test_collisions_get_distinct_names() -> None:
    t = NameTable()
    t.add("d", is_dir=True)
    a = t.add("d/a-b.tar", is_dir=False)
    b = t.add("d/a_b.tar", is_dir=False)
    c = t.add("d/A-B.tar", is_dir=False)
    assert a.iso == "/D/A_B.TAR;1"
    assert len({a.iso, b.iso, c.iso}) == 3
    assert b.iso == "/D/A_B_1.TAR;1"


def test_long_joliet_names_are_shortened_and_unique() -> None:
    t = NameTable()
    t.add("d", is_dir=True)
    one = t.add("d/" + "x" * 70 + "-1.gpkg.tar", is_dir=False)
    two = t.add("d/" + "x" * 70 + "-2.gpkg.tar", is_dir=False)
    names = [p.joliet.rsplit("/", 1)[1] for p in (one, two)]
    assert all(len(n) <= 64 for n in names)
    assert names[0] != names[1]
    assert one.rr_name == "x" * 70 + "-1.gpkg.tar"  # Rock Ridge keeps the real name


@pytest.mark.parametrize(
    ("path", "is_dir", "message"),
    [
        pytest.param("a/b", False, "parent directory must be added first", id="no-parent"),
        pytest.param("../x", False, "not a valid path", id="dotdot"),
        pytest.param("", True, "not a valid path", id="empty"),
    ],
)
def test_bad_paths(path: str, is_dir: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NameTable().add(path, is_dir=is_dir)


def test_depth_limit() -> None:
    t = NameTable()
    parts: list[str] = []
    for i in range(7):
        parts.append(f"d{i}")
        t.add("/".join(parts), is_dir=True)
    t.add("/".join([*parts, "file"]), is_dir=False)  # a file at level 7 is fine
    with pytest.raises(ConfigError, match="deeper than 7"):
        t.add("/".join([*parts, "d7"]), is_dir=True)


def test_joliet_names_are_ucs2_without_reserved_characters() -> None:
    name = os.fsdecode(b"caf\xe9;x*y?z:\\a\x01b-") + "\U0001f600-\u00fc.tar"
    assert joliet_name(name) == "caf__x_y_z__a_b-_-\u00fc.tar"
    table = NameTable()
    table.add("d", is_dir=True)
    one = table.add("d/a?b", is_dir=False)
    two = table.add("d/a*b", is_dir=False)  # the same Joliet name: made unique
    assert (one.joliet, two.joliet) == ("/d/a_b", "/d/a_b~1")
