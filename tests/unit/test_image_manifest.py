from __future__ import annotations

import io
import re

import pytest

from provision.image.manifest import ImageError, Manifest, describe, verified_chunks
from provision.image.unpack import pinned

DATA = bytes(range(256)) * 40  # 10240 bytes


def make() -> Manifest:
    return describe(io.BytesIO(DATA), "system.tar.zst", chunk_size=4096, profile="p", snapshot="s1")


def test_round_trip() -> None:
    m = make()
    assert m.size == 10240 and len(m.chunks) == 3
    assert Manifest.parse(m.render()) == m
    assert b"".join(verified_chunks(io.BytesIO(DATA), m)) == DATA


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            DATA[:5000] + b"X" + DATA[5001:], "chunk 1 (at byte 4096) is corrupt", id="corrupt"
        ),
        pytest.param(DATA[:9000], "shorter than its manifest", id="truncated"),
        pytest.param(DATA + b"more", "longer than its manifest", id="extended"),
    ],
)
def test_bad_streams(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=re.escape(message)):
        b"".join(verified_chunks(io.BytesIO(data), make()))


def test_corrupt_chunk_yields_nothing_of_it() -> None:
    out = []
    with pytest.raises(ImageError):
        for block in verified_chunks(io.BytesIO(DATA[:5000] + b"X" + DATA[5001:]), make()):
            out.append(block)
    assert out == [DATA[:4096]]  # only verified chunks ever reach the consumer


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("hello\n", "not an image manifest", id="format"),
        pytest.param(
            make().render().replace("size 10240", "size x"), "missing or bad field", id="bad-size"
        ),
        pytest.param(
            make().render().rsplit("chunk ", 1)[0],
            "2 chunks listed, 3 expected",
            id="missing-chunk",
        ),
    ],
)
def test_bad_manifests(text: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        Manifest.parse(text)


@pytest.mark.parametrize(
    ("source", "snapshot", "expected"),
    [
        ("http://s/image/p/current", "20261121T1-ab", "http://s/image/p/20261121T1-ab"),
        ("http://s/image/p/current/", "x", "http://s/image/p/x"),
        ("http://s/image/p/current", "", "http://s/image/p/current"),
        ("/media/offline/image", "x", "/media/offline/image"),
    ],
)
def test_pinned(source: str, snapshot: str, expected: str) -> None:
    assert pinned(source, snapshot) == expected
