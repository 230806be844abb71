from __future__ import annotations

import io
import stat

from provision.live import cpio


def parse(data: bytes) -> list[tuple[str, int, bytes]]:
    """A tiny independent newc reader for the round trip."""
    out: list[tuple[str, int, bytes]] = []
    pos = 0
    while True:
        assert data[pos : pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        body = data[pos : pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, body))


def test_round_trip(tmp_path: object) -> None:
    buf = io.BytesIO()
    w = cpio.CpioWriter(buf)
    w.add(cpio.directory("bin"))
    w.add(cpio.file("init", data=b"#!/bin/sh\necho hi\n", perm=0o755))
    w.add(cpio.symlink("bin/sh", "busybox"))
    w.add(cpio.chardev("dev/console", 5, 1))
    w.close()
    data = buf.getvalue()
    assert len(data) % 512 == 0
    entries = parse(data)
    assert [e[0] for e in entries] == ["bin", "init", "bin/sh", "dev/console"]
    assert entries[1][2] == b"#!/bin/sh\necho hi\n"
    assert stat.S_ISLNK(entries[2][1]) and entries[2][2] == b"busybox"
    assert stat.S_ISCHR(entries[3][1])


def test_header_alignment() -> None:
    for name in ("a", "ab", "abc", "abcd", "abcde"):
        assert len(cpio.header(cpio.directory(name), 1)) % 4 == 0
