"""Where everything of an IsoPlan goes on the image, and the bytes of its directories (pure).

Blocks of 2048 bytes, in this order:

    0-15   system area (the isohybrid MBR and GPT, written last)
    16     primary volume descriptor         17  El Torito boot record
    18     Joliet volume descriptor          19  descriptor set terminator
    20     El Torito boot catalog (also the file isolinux/boot.cat)
    21...  path tables (ISO L, ISO M, Joliet L, Joliet M), the ISO 9660 directories, the Rock
           Ridge continuation areas, the Joliet directories, then each file's data in plan order.

Only the directory tree is held (a node per directory, a list of child indices); the records
of one directory are made when that directory is written, so memory grows with the number of
directories, not with the bytes of the records of the whole tree.
"""

from __future__ import annotations

import stat
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from provision.iso import ecma119 as e
from provision.iso.plan import IsoPlan

PVD_BLOCK, BOOT_RECORD_BLOCK, JOLIET_BLOCK, TERMINATOR_BLOCK, CATALOG_BLOCK = 16, 17, 18, 19, 20
FIRST_FREE = 21
CATALOG = -1  # the boot catalog's index among a directory's files
DIR_MODE = stat.S_IFDIR | 0o555


class LayoutError(ValueError):
    """The plan cannot be laid out as ISO 9660 (too many directories, too many blocks)."""


@dataclass(slots=True)
class Dir:
    iso_id: bytes  # this directory's ISO 9660 identifier (b"\x00" for the root)
    joliet_id: bytes  # UCS-2 (b"\x00" for the root)
    rr_name: bytes
    parent: int
    subdirs: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)  # indices into plan.files, or CATALOG
    size: int = 0  # bytes of its ISO 9660 records, whole blocks
    joliet_size: int = 0
    block: int = 0
    joliet_block: int = 0
    number: int = 0  # in the ISO path table (1 for the root)
    joliet_number: int = 0


def _blocks(size: int) -> int:
    return -(-size // e.BLOCK)


def _parts(size: int) -> int:
    """How many extents (directory records) a file of `size` bytes takes."""
    return max(1, -(-size // e.MAX_EXTENT))


@dataclass
class Tree:
    dirs: list[Dir]
    iso_order: list[int]  # path-table order: level by level, by parent, by identifier
    joliet_order: list[int]


def _leaf(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def build_tree(plan: IsoPlan) -> Tree:
    root = Dir(b"\x00", b"\x00", b"", 0)
    dirs = [root]
    index = {"": 0}
    for d in plan.dirs:  # parents first
        parent = index[d.posix.rpartition("/")[0]]
        node = Dir(
            _leaf(d.iso).encode("ascii"),
            _leaf(d.joliet).encode("utf-16-be"),
            d.rr_name.encode("utf-8", "surrogateescape"),
            parent,
        )
        index[d.posix] = len(dirs)
        dirs[parent].subdirs.append(len(dirs))
        dirs.append(node)
    for i, f in enumerate(plan.files):
        dirs[index[f.where.posix.rpartition("/")[0]]].files.append(i)
    dirs[index[plan.boot_catalog.posix.rpartition("/")[0]]].files.append(CATALOG)
    iso_order = _bfs(dirs, lambda i: _iso_key(dirs[i].iso_id))
    joliet_order = _bfs(dirs, lambda i: dirs[i].joliet_id)
    if len(dirs) > 0xFFFF:
        raise LayoutError(f"{len(dirs)} directories (a path table numbers at most 65535)")
    for n, i in enumerate(iso_order, 1):
        dirs[i].number = n
    for n, i in enumerate(joliet_order, 1):
        dirs[i].joliet_number = n
    return Tree(dirs, iso_order, joliet_order)


def _bfs(dirs: list[Dir], key: Callable[[int], Any]) -> list[int]:
    order, level = [0], [0]
    while level:
        nxt = []
        for i in level:
            nxt.extend(sorted(dirs[i].subdirs, key=key))
        order.extend(nxt)
        level = nxt
    return order


def _iso_key(ident: bytes) -> tuple[bytes, bytes]:
    """Ecma-119 9.3: by name, then extension (both padded with spaces: a prefix sorts first)."""
    name, _, ext = ident.partition(b";")[0].partition(b".")
    return name, ext


@dataclass(frozen=True)
class FileInfo:
    iso_id: bytes
    joliet_id: bytes
    rr_name: bytes
    size: int
    mode: int


def file_info(plan: IsoPlan, i: int) -> FileInfo:
    if i == CATALOG:
        w, size, mode = plan.boot_catalog, e.BLOCK, 0o644
    else:
        f = plan.files[i]
        w, size, mode = f.where, f.size, f.mode
    return FileInfo(
        _leaf(w.iso).encode("ascii"),
        _leaf(w.joliet).encode("utf-16-be"),
        w.rr_name.encode("utf-8", "surrogateescape"),
        size,
        stat.S_IFREG | mode,
    )


class Continuations:
    """Rock Ridge continuation areas: chunks packed into blocks from `first` (no chunk crosses
    a block)."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.data = bytearray()

    def add(self, chunk: bytes) -> tuple[int, int]:
        if len(self.data) % e.BLOCK + len(chunk) > e.BLOCK:
            self.data.extend(bytes(-len(self.data) % e.BLOCK))
        at = len(self.data)
        self.data.extend(chunk)
        return self.first + at // e.BLOCK, at % e.BLOCK

    @property
    def blocks(self) -> int:
        return _blocks(len(self.data))


def _with_ce(ident: bytes, entries: list[bytes], ce: Continuations, keep: int = 0) -> bytes:
    inline, later = e.split_system_use(ident, entries, keep)
    if not later:
        return b"".join(inline)
    chunk = b"".join(later)
    block, offset = ce.add(chunk)
    return b"".join(inline) + e.ce(block, offset, len(chunk))


@dataclass(frozen=True)
class Placed:
    """What record-making needs from a finished layout (zeros while sizing)."""

    extents: array[int]  # each file's first block
    when: e.When


def iso_records(
    plan: IsoPlan, tree: Tree, d: int, placed: Placed, ce: Continuations
) -> Iterator[bytes]:
    """The ISO 9660 + Rock Ridge records of directory d: '.', '..', then its entries."""
    dirs, when = tree.dirs, placed.when
    node = dirs[d]
    parent = dirs[node.parent]
    here = [e.rr(), e.px(DIR_MODE, 2 + len(node.subdirs)), e.tf(when)]
    if d == 0:
        su = e.sp() + b"".join(here)
        block, offset = ce.add(e.er())
        su += e.ce(block, offset, len(e.er()))
    else:
        su = b"".join(here)
    yield e.record(b"\x00", node.block, node.size, e.FLAG_DIR, when, su)
    up = [e.rr(), e.px(DIR_MODE, 2 + len(parent.subdirs)), e.tf(when)]
    yield e.record(b"\x01", parent.block, parent.size, e.FLAG_DIR, when, b"".join(up))
    for _, i, info in _entries(plan, tree, d, joliet=False):
        if info is None:
            sub = dirs[i]
            entries = [e.rr(), e.px(DIR_MODE, 2 + len(sub.subdirs)), e.tf(when), *e.nm(sub.rr_name)]
            su = _with_ce(sub.iso_id, entries, ce)
            yield e.record(sub.iso_id, sub.block, sub.size, e.FLAG_DIR, when, su)
            continue
        first = CATALOG_BLOCK if i == CATALOG else placed.extents[i]
        for block, size, flags in _extents(first, info.size):
            entries = [e.rr(), e.px(info.mode, 1), e.tf(when), *e.nm(info.rr_name)]
            su = _with_ce(info.iso_id, entries, ce)
            yield e.record(info.iso_id, block, size, flags, when, su)


def joliet_records(plan: IsoPlan, tree: Tree, d: int, placed: Placed) -> Iterator[bytes]:
    dirs, when = tree.dirs, placed.when
    node, parent = dirs[d], dirs[dirs[d].parent]
    yield e.record(b"\x00", node.joliet_block, node.joliet_size, e.FLAG_DIR, when)
    yield e.record(b"\x01", parent.joliet_block, parent.joliet_size, e.FLAG_DIR, when)
    for _, i, info in _entries(plan, tree, d, joliet=True):
        if info is None:
            sub = dirs[i]
            yield e.record(sub.joliet_id, sub.joliet_block, sub.joliet_size, e.FLAG_DIR, when)
            continue
        first = CATALOG_BLOCK if i == CATALOG else placed.extents[i]
        for block, size, flags in _extents(first, info.size):
            yield e.record(info.joliet_id, block, size, flags, when)


def _entries(
    plan: IsoPlan, tree: Tree, d: int, *, joliet: bool
) -> list[tuple[Any, int, FileInfo | None]]:
    """(sort key, index, the file's names and mode or None for a subdirectory), in the
    directory's order."""
    node = tree.dirs[d]
    out: list[tuple[Any, int, FileInfo | None]] = []
    for i in node.subdirs:
        sub = tree.dirs[i]
        out.append((sub.joliet_id if joliet else _iso_key(sub.iso_id), i, None))
    for i in node.files:
        info = file_info(plan, i)
        out.append((info.joliet_id if joliet else _iso_key(info.iso_id), i, info))
    out.sort(key=lambda t: t[0])
    return out


def _extents(first: int, size: int) -> Iterator[tuple[int, int, int]]:
    """(block, bytes, flags) of each record of a file: one, or several for a file of 4 GiB or
    more (multi-extent: every record but the last flagged)."""
    parts = _parts(size)
    for n in range(parts):
        last = n == parts - 1
        length = size - n * e.MAX_EXTENT if last else e.MAX_EXTENT
        yield first + n * (e.MAX_EXTENT // e.BLOCK), length, 0 if last else e.FLAG_MULTI_EXTENT


def pack(records: Iterator[bytes]) -> bytes:
    """A directory's records in whole blocks: a record never crosses a block boundary."""
    out = bytearray()
    for rec in records:
        if len(out) % e.BLOCK + len(rec) > e.BLOCK:
            out.extend(bytes(-len(out) % e.BLOCK))
        out.extend(rec)
    out.extend(bytes(-len(out) % e.BLOCK))
    return bytes(out)


@dataclass
class Layout:
    tree: Tree
    placed: Placed
    path_tables: tuple[int, int, int, int]  # ISO L, ISO M, Joliet L, Joliet M: first blocks
    path_table_sizes: tuple[int, int]  # ISO, Joliet (bytes)
    ce_first: int
    ce_blocks: int
    data_first: int
    space_blocks: int  # the ISO volume's size in blocks


def lay_out(plan: IsoPlan, when: e.When) -> Layout:
    """Every directory's size and block, every file's first block, the volume's size."""
    tree = build_tree(plan)
    dirs = tree.dirs
    sizing = Placed(array("I", bytes(4 * len(plan.files))), when)
    ce = Continuations(0)
    for d in tree.iso_order:
        dirs[d].size = len(pack(iso_records(plan, tree, d, sizing, ce)))
        dirs[d].joliet_size = len(pack(joliet_records(plan, tree, d, sizing)))
    iso_pt = sum(e.path_entry_len(dirs[d].iso_id) for d in tree.iso_order)
    joliet_pt = sum(e.path_entry_len(dirs[d].joliet_id) for d in tree.joliet_order)
    block = FIRST_FREE
    tables = []
    for size in (iso_pt, iso_pt, joliet_pt, joliet_pt):
        tables.append(block)
        block += _blocks(size)
    for d in tree.iso_order:
        dirs[d].block = block
        block += dirs[d].size // e.BLOCK
    ce_first, ce_blocks = block, ce.blocks
    block += ce_blocks
    for d in tree.joliet_order:
        dirs[d].joliet_block = block
        block += dirs[d].joliet_size // e.BLOCK
    data_first = block
    extents = array("I")
    for f in plan.files:
        extents.append(block)
        block += _blocks(f.size)
        if block > 0xFFFFFFFF:
            raise LayoutError("the image would exceed 8 TiB")
    return Layout(
        tree,
        Placed(extents, when),
        (tables[0], tables[1], tables[2], tables[3]),
        (iso_pt, joliet_pt),
        ce_first,
        ce_blocks,
        data_first,
        block,
    )


def path_table(layout: Layout, *, joliet: bool, big_endian: bool) -> bytes:
    tree = layout.tree
    out = bytearray()
    for d in tree.joliet_order if joliet else tree.iso_order:
        node = tree.dirs[d]
        parent = tree.dirs[node.parent]
        ident = node.joliet_id if joliet else node.iso_id
        block = node.joliet_block if joliet else node.block
        number = parent.joliet_number if joliet else parent.number
        out += e.path_entry(ident, block, number, big_endian)
    return bytes(out)


def root_record(layout: Layout, *, joliet: bool) -> bytes:
    root = layout.tree.dirs[0]
    block, size = (root.joliet_block, root.joliet_size) if joliet else (root.block, root.size)
    return e.record(b"\x00", block, size, e.FLAG_DIR, layout.placed.when)


def volume(layout: Layout, volume_id: str, *, joliet: bool) -> e.Volume:
    l_table, m_table = layout.path_tables[2:] if joliet else layout.path_tables[:2]
    return e.Volume(
        volume_id=volume_id,
        space_blocks=layout.space_blocks,
        path_table_size=layout.path_table_sizes[1 if joliet else 0],
        l_table=l_table,
        m_table=m_table,
        root=root_record(layout, joliet=joliet),
        when=layout.placed.when,
    )
