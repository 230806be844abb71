"""The image's structures (pure): directory records and Rock Ridge entries, the layout of a plan,
the El Torito catalog and boot info table, the isohybrid MBR and GPT."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from provision.iso import ecma119 as e
from provision.iso import hybrid
from provision.iso.layout import (
    CATALOG_BLOCK,
    Continuations,
    iso_records,
    joliet_records,
    lay_out,
    pack,
    path_table,
)
from provision.iso.plan import IsoPlan, TreeFile, plan_image
from provision.iso.stamp import SNAPSHOT_DIR
from tests.unit.iso_samples import STAMP
from tests.unit.test_iso_plan import BASE, SIZES, TEMPLATES

WHEN = e.when_of(1_700_000_000)
LONG = "x" * 200 + "-1.0-1.gpkg.tar"  # 215 bytes: more than a record holds with its entries
BIG = 5 * 1024**3  # needs two extents


def offline_plan() -> IsoPlan:
    snapshot = [
        TreeFile("binhost/Packages", Path("/s/Packages"), 100, 0o644),
        TreeFile(f"binhost/app-misc/{LONG}", Path("/s/long"), 3000, 0o644),
        TreeFile("binhost/app-misc/zz-9.gpkg.tar", Path("/s/zz"), 10, 0o600),
        TreeFile("image/system.tar.zst", Path("/s/big"), BIG, 0o644),
        TreeFile("binhost/dev-lang/a/b/e.txt", Path("/s/e"), 0, 0o644),
    ]
    return plan_image(BASE, STAMP, TEMPLATES, sizes=SIZES, snapshot=snapshot)


def parse_records(data: bytes) -> list[dict[str, object]]:
    """Every directory record of a directory's blocks (what a reader does)."""
    out, at = [], 0
    while at < len(data):
        length = data[at]
        if length == 0:  # the rest of this block is padding
            at = (at // e.BLOCK + 1) * e.BLOCK
            continue
        rec = data[at : at + length]
        n = rec[32]
        head = 33 + n + (1 - n % 2)
        out.append(
            {
                "len": length,
                "block": struct.unpack_from("<I", rec, 2)[0],
                "block_be": struct.unpack_from(">I", rec, 6)[0],
                "size": struct.unpack_from("<I", rec, 10)[0],
                "flags": rec[25],
                "id": rec[33 : 33 + n],
                "su": rec[head:],
                "start": at,
            }
        )
        at += length
    return out


def susp(su: bytes) -> list[tuple[bytes, bytes]]:
    """(signature, entry) of each SUSP entry."""
    out, at = [], 0
    while at + 4 <= len(su) and su[at + 2] >= 4:
        length = su[at + 2]
        out.append((su[at : at + 2], su[at : at + length]))
        at += length
    return out


def rr_name(entries: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(entry[5:] for sig, entry in entries if sig == b"NM")


@pytest.fixture(scope="module")
def laid_out() -> tuple[IsoPlan, object]:
    plan = offline_plan()
    return plan, lay_out(plan, WHEN)


def all_directories(plan: IsoPlan, layout: object) -> dict[int, tuple[bytes, bytes]]:
    """Each directory's ISO and Joliet blocks, made the way the writer makes them."""
    tree = layout.tree  # type: ignore[attr-defined]
    ce = Continuations(layout.ce_first)  # type: ignore[attr-defined]
    iso = {d: pack(iso_records(plan, tree, d, layout.placed, ce)) for d in tree.iso_order}  # type: ignore[attr-defined]
    joliet = {d: pack(joliet_records(plan, tree, d, layout.placed)) for d in tree.joliet_order}  # type: ignore[attr-defined]
    return {d: (iso[d], joliet[d]) for d in iso} | {-1: (bytes(ce.data), b"")}


def test_every_record_fits_its_directory(laid_out: tuple[IsoPlan, object]) -> None:
    plan, layout = laid_out
    tree = layout.tree  # type: ignore[attr-defined]
    dirs = all_directories(plan, layout)
    for d in tree.iso_order:
        iso, joliet = dirs[d]
        assert len(iso) == tree.dirs[d].size and len(joliet) == tree.dirs[d].joliet_size
        for data in (iso, joliet):
            recs = parse_records(data)
            assert [r["id"] for r in recs[:2]] == [b"\x00", b"\x01"]
            for r in recs:
                assert r["len"] <= 255 and r["len"] % 2 == 0  # type: ignore[operator]
                assert r["block"] == r["block_be"]
                start = r["start"]
                assert start // e.BLOCK == (start + r["len"] - 1) // e.BLOCK  # type: ignore[operator]


def test_a_long_name_goes_on_in_a_continuation_area(laid_out: tuple[IsoPlan, object]) -> None:
    plan, layout = laid_out
    tree = layout.tree  # type: ignore[attr-defined]
    dirs = all_directories(plan, layout)
    ce_data = dirs[-1][0]
    app_misc = next(i for i, d in enumerate(tree.dirs) if d.rr_name == b"app-misc")
    names = {}
    for r in parse_records(dirs[app_misc][0])[2:]:
        entries = susp(r["su"])  # type: ignore[arg-type]
        ce = [entry for sig, entry in entries if sig == b"CE"]
        if ce:
            block, offset, length = (struct.unpack_from("<I", ce[0], i)[0] for i in (4, 12, 20))
            at = (block - layout.ce_first) * e.BLOCK + offset  # type: ignore[attr-defined]
            entries += susp(ce_data[at : at + length])
        names[rr_name(entries)] = r
    assert set(names) == {LONG.encode(), b"zz-9.gpkg.tar"}
    assert susp(names[LONG.encode()]["su"])[-1][0] == b"CE"  # type: ignore[arg-type]
    # the root's '.' starts with SP and reaches the ER (Rock Ridge 1.09) through its CE
    root_dot = parse_records(dirs[0][0])[0]
    entries = susp(root_dot["su"])  # type: ignore[arg-type]
    assert entries[0] == (b"SP", b"SP\x07\x01\xbe\xef\x00")
    assert b"ER" in ce_data[:4] and e.RR_ID in ce_data


def test_a_file_of_4_gib_or_more_takes_several_extents(laid_out: tuple[IsoPlan, object]) -> None:
    plan, layout = laid_out
    tree = layout.tree  # type: ignore[attr-defined]
    image = next(i for i, d in enumerate(tree.dirs) if d.rr_name == b"image")
    iso, joliet = all_directories(plan, layout)[image]
    index = [f.where.posix for f in plan.files].index(f"{SNAPSHOT_DIR}/image/system.tar.zst")
    first = layout.placed.extents[index]  # type: ignore[attr-defined]
    for data in (iso, joliet):
        recs = parse_records(data)[2:]
        assert [(r["flags"], r["size"], r["block"]) for r in recs] == [
            (e.FLAG_MULTI_EXTENT, e.MAX_EXTENT, first),
            (0, BIG - e.MAX_EXTENT, first + e.MAX_EXTENT // e.BLOCK),
        ]
    after = [*layout.placed.extents, layout.space_blocks][index + 1]  # type: ignore[attr-defined]
    assert after == first + -(-BIG // e.BLOCK)  # the next file (or the end) after all its data


def test_path_tables_number_parents_first(laid_out: tuple[IsoPlan, object]) -> None:
    _, layout = laid_out
    for joliet in (False, True):
        little = path_table(layout, joliet=joliet, big_endian=False)  # type: ignore[arg-type]
        big = path_table(layout, joliet=joliet, big_endian=True)  # type: ignore[arg-type]
        assert len(little) == len(big) == layout.path_table_sizes[joliet]  # type: ignore[attr-defined]
        rows, at = [], 0
        while at < len(little):
            n = little[at]
            block, parent = struct.unpack_from("<IH", little, at + 2)
            assert (block, parent) == struct.unpack_from(">IH", big, at + 2)
            rows.append((parent, little[at + 8 : at + 8 + n]))
            at += 8 + n + n % 2
        assert rows[0] == (1, b"\x00")
        assert all(parent <= number for number, (parent, _) in enumerate(rows, 1))
        assert rows[1:] == sorted(rows[1:], key=lambda r: r[0])  # by parent, in order


def test_the_catalog_is_a_file_at_its_block(laid_out: tuple[IsoPlan, object]) -> None:
    plan, layout = laid_out
    tree = layout.tree  # type: ignore[attr-defined]
    isolinux = next(i for i, d in enumerate(tree.dirs) if d.rr_name == b"isolinux")
    recs = parse_records(all_directories(plan, layout)[isolinux][0])
    cat = next(r for r in recs if r["id"] == b"BOOT.CAT;1")
    assert (cat["block"], cat["size"]) == (CATALOG_BLOCK, e.BLOCK)


def test_boot_catalog() -> None:
    cat = e.boot_catalog(100, 4, 200, 5760)
    assert sum(struct.unpack_from("<16H", cat, 0)) & 0xFFFF == 0  # the validation checksum
    assert cat[30:32] == b"\x55\xaa"
    assert struct.unpack_from("<BBHBBHI", cat, 32) == (0x88, 0, 0, 0, 0, 4, 100)
    assert struct.unpack_from("<BBH", cat, 64) == (0x91, 0xEF, 1)  # the last section: EFI
    assert struct.unpack_from("<BBHBBHI", cat, 96) == (0x88, 0, 0, 0, 0, 5760, 200)
    assert len(cat) == e.BLOCK


def test_boot_info_table() -> None:
    data = bytes(range(256)) * 9 + b"\x07"  # not a whole number of words
    out = e.boot_info_table(data, 16, 300)
    pvd, block, length, checksum = struct.unpack_from("<IIII", out, 8)
    tail = data[64:] + b"\0\0\0"
    words = struct.unpack(f"<{len(tail) // 4}I", tail)
    assert (pvd, block, length, checksum) == (16, 300, len(data), sum(words) & 0xFFFFFFFF)
    assert out[:8] == data[:8] and out[64:] == data[64:] and out[24:64] == bytes(40)
    with pytest.raises(ValueError):
        e.boot_info_table(b"short", 16, 300)


def test_records_and_names() -> None:
    rec = e.record(b"A.TXT;1", 30, 5, 0, WHEN, b"PX")
    assert len(rec) % 2 == 0 and rec[0] == len(rec)
    with pytest.raises(ValueError):
        e.record(b"A", 1, 1, 0, WHEN, b"x" * 230)
    parts = e.nm(b"n" * 300)
    assert [(p[2], p[4]) for p in parts] == [(255, e.NM_CONTINUE), (55, 0)]
    assert b"".join(p[5:] for p in parts) == b"n" * 300
    entries = [b"SP" + b"x" * 60, b"PX" + b"y" * 60, b"NM" * 80]
    kept, moved = e.split_system_use(b"A;1", entries)
    assert kept == entries[:2] and moved == entries[2:]  # room kept for the CE entry
    assert e.split_system_use(b"A;1", entries, keep=3) == (entries, [])


def test_volume_descriptors() -> None:
    root = e.record(b"\x00", 23, 2048, e.FLAG_DIR, WHEN)
    v = e.Volume("DESKTOP_AMD64", 1234, 10, 21, 22, root, WHEN)
    pvd, svd = e.volume_descriptor(v, joliet=False), e.volume_descriptor(v, joliet=True)
    assert pvd[:7] == b"\x01CD001\x01" and svd[:7] == b"\x02CD001\x01"
    assert pvd[40:72] == b"DESKTOP_AMD64".ljust(32) and svd[88:91] == b"%/E"
    assert svd[40:72].decode("utf-16-be").rstrip() == "DESKTOP_AMD64"
    assert pvd[80:88] == e.both32(1234) and pvd[156:190] == root
    assert (
        struct.unpack_from("<I", pvd, 140)[0] == 21 and struct.unpack_from(">I", pvd, 148)[0] == 22
    )
    assert e.boot_record(20)[71:75] == struct.pack("<I", 20)


def test_system_area() -> None:
    ids = hybrid.Ids(0x12345678, b"d" * 16, b"i" * 16, b"s" * 16)
    iso_bytes = 3 * hybrid.CYLINDER - 10 * 512  # the backup GPT (33 sectors) needs a cylinder more
    head, tail, size = hybrid.system_area(
        bytes(432), ids, iso_bytes=iso_bytes, bios_block=500, efi_block=40, efi_sectors=5760
    )
    assert size == 4 * hybrid.CYLINDER and len(head) == 34 * 512 and len(tail) == 33 * 512
    assert struct.unpack_from("<II", head, 432) == (2000, 0)  # isolinux.bin's 512-byte LBA
    assert struct.unpack_from("<I", head, 440)[0] == 0x12345678 and head[510:512] == b"\x55\xaa"
    p1 = struct.unpack_from("<BBBBBBBBII", head, 446)
    assert (p1[0], p1[4], p1[8], p1[9]) == (0x80, 0, 0, size // 512)
    assert head[462 + 4] == 0xEF and struct.unpack_from("<II", head, 462 + 8) == (160, 5760)
    entries = head[1024:]
    assert entries == tail[: len(entries)]  # the backup array is the primary's
    last = size // 512 - 1
    for header, current, backup, array in (
        (head[512:1024], 1, last, 2),
        (tail[-512:], last, 1, last - 32),
    ):
        assert header[:8] == b"EFI PART"
        assert struct.unpack_from("<QQ", header, 24) == (current, backup)
        assert struct.unpack_from("<Q", header, 72)[0] == array
        assert header[56:72] == b"d" * 16  # one disk GUID
        assert struct.unpack_from("<I", header, 88)[0] == zlib.crc32(entries)
        zeroed = header[:16] + bytes(4) + header[20:92]
        assert struct.unpack_from("<I", header, 16)[0] == zlib.crc32(zeroed)
    first, end = struct.unpack_from("<QQ", entries, 32)
    assert (first, end) == (0, iso_bytes // 512 - 1)
    assert struct.unpack_from("<QQ", entries, 128 + 32) == (160, 160 + 5760 - 1)
    assert entries[56:82].decode("utf-16-le") == "ISOHybrid ISO"
    with pytest.raises(ValueError):
        hybrid.system_area(
            b"short", ids, iso_bytes=iso_bytes, bios_block=1, efi_block=2, efi_sectors=3
        )


def test_random_guids_are_version_4() -> None:
    guids = {hybrid.random_guid() for _ in range(20)}
    assert len(guids) == 20
    assert all(g[7] >> 4 == 4 and g[8] >> 6 == 2 for g in guids)
