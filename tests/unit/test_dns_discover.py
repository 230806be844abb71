"""RFC 2782 target selection and the other pure parts of discovery."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from provision.dns.discover import (
    ResolverConfig,
    SrvRecord,
    load_resolver_config,
    locate_server,
    order_srv,
    parse_cmdline,
    parse_nameserver,
    parse_txt_hints,
    server_url,
)
from provision.errors import ConfigError

A = SrvRecord(10, 60, 8080, "a.example.test")
B = SrvRecord(10, 20, 8081, "b.example.test")
C = SrvRecord(10, 20, 8082, "c.example.test")
Z = SrvRecord(10, 0, 8083, "z.example.test")
BACKUP = SrvRecord(20, 0, 8090, "backup.example.test")


def scripted(*values: int) -> object:
    it = iter(values)

    def randint(lo: int, hi: int) -> int:
        value = next(it)
        assert lo <= value <= hi
        return value

    return randint


@pytest.mark.parametrize(
    ("records", "draws", "expected"),
    [
        pytest.param([BACKUP, A], [0, 0], [A, BACKUP], id="priority-first"),
        # running sums over a(60) b(20) c(20): 0..60 -> a, 61..80 -> b, 81..100 -> c
        pytest.param([C, B, A], [60, 20, 0], [A, B, C], id="sum-reaches-60-picks-a"),
        pytest.param([C, B, A], [61, 0, 0], [B, A, C], id="61-picks-b"),
        pytest.param([C, B, A], [100, 80, 0], [C, B, A], id="top-picks-last"),
        # weight 0 goes first in the list: only a draw of 0 picks it
        pytest.param([A, Z], [0, 0], [Z, A], id="zero-weight-on-zero"),
        pytest.param([A, Z], [1, 0], [A, Z], id="zero-weight-else-last"),
        pytest.param([SrvRecord(0, 0, 0, ".")], [], [], id="dot-means-unavailable"),
        pytest.param([], [], [], id="empty"),
    ],
)
def test_order_srv(records: list[SrvRecord], draws: list[int], expected: list[SrvRecord]) -> None:
    assert order_srv(records, scripted(*draws)) == expected  # type: ignore[arg-type]


def test_order_does_not_depend_on_answer_order() -> None:
    for perm in ([A, B, C], [C, A, B], [B, C, A]):
        assert order_srv(perm, scripted(70, 0, 0)) == [B, A, C]  # type: ignore[arg-type]


def test_weights_shape_the_first_choice() -> None:
    rng = random.Random(2782)
    firsts = Counter(order_srv([A, B, C, BACKUP], rng.randint)[0] for _ in range(4000))
    assert BACKUP not in firsts
    assert 0.56 < firsts[A] / 4000 < 0.64  # 60 %
    assert 0.17 < firsts[B] / 4000 < 0.23  # 20 %
    assert 0.17 < firsts[C] / 4000 < 0.23


def test_bad_random_source_is_refused() -> None:
    with pytest.raises(ValueError, match="returned 5"):
        order_srv([Z], lambda lo, hi: 5)


def test_txt_hints_and_url() -> None:
    hints = parse_txt_hints([b"profile=desktop", b"note = lab ", b"junk", b"profile=other"])
    assert hints == {"profile": "desktop", "note": "lab"}
    assert server_url(A) == "http://a.example.test:8080"
    assert server_url(SrvRecord(0, 0, 80, "2001:db8::1")) == "http://[2001:db8::1]:80"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1", ("127.0.0.1", None), id="v4"),
        pytest.param("127.0.0.1:5353", ("127.0.0.1", 5353), id="v4-port"),
        pytest.param("2001:db8::1", ("2001:db8::1", None), id="v6"),
        pytest.param("[2001:db8::1]:53", ("2001:db8::1", 53), id="v6-port"),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["ns.example.test", "127.0.0.1:0", "127.0.0.1:x", "[::1]:99999"])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^nameserver: "):
        parse_nameserver(text)


def test_resolver_config_from_file(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\nsearch example.test\noptions timeout:2\n")
    cfg = load_resolver_config(conf)
    assert cfg == ResolverConfig(("192.0.2.1",), ("example.test",), 53, 2.0)
    cfg = load_resolver_config(conf, nameserver="127.0.0.1:5300", search=["lab.test"])
    assert cfg == ResolverConfig(("127.0.0.1",), ("lab.test",), 5300, 2.0)
    with pytest.raises(ConfigError, match="no nameserver"):
        load_resolver_config(tmp_path / "missing")


def test_cmdline() -> None:
    line = "BOOT_IMAGE=/vmlinuz provision.server=http://10.0.0.1:8080 provision.profile=web quiet"
    assert parse_cmdline(line) == {"server": "http://10.0.0.1:8080", "profile": "web"}
    # the kernel command line wins: DNS is not asked (the resolver points nowhere)
    cfg = ResolverConfig(("192.0.2.1",))
    assert locate_server(line, cfg) == ("http://10.0.0.1:8080", "web")
