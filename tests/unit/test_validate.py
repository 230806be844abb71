from __future__ import annotations

import pytest

from provision.errors import ConfigError
from provision.profiles import validate as v


@pytest.mark.parametrize(
    "atom",
    [
        pytest.param("app-misc/hello", id="plain"),
        pytest.param(">=dev-libs/nss-3.45", id="ge-version"),
        pytest.param("=dev-libs/nss-3.46*", id="glob"),
        pytest.param("~sys-libs/glibc-2.39-r1", id="tilde-rev"),
        pytest.param("dev-libs/libgreet:0/1", id="subslot"),
        pytest.param("dev-qt/qtcore:5=", id="slot-op"),
        pytest.param("www-client/firefox::gentoo", id="repo"),
        pytest.param("media-libs/mesa[vulkan,-llvm]", id="use-dep"),
        pytest.param("=dev-lang/python-3.12.1_rc1", id="rc"),
    ],
)
def test_valid_atoms(atom: str) -> None:
    assert v.atom("k", atom) == atom


@pytest.mark.parametrize(
    "atom",
    [
        pytest.param("hello", id="no-category"),
        pytest.param("app-misc/", id="no-name"),
        pytest.param(">=app-misc/hello", id="op-no-version"),
        pytest.param("app misc/hello", id="space"),
        pytest.param(">=dev-libs/nss-3.4*", id="star-needs-eq"),
    ],
)
def test_invalid_atoms(atom: str) -> None:
    with pytest.raises(ConfigError, match="not a valid package atom"):
        v.atom("k", atom)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("512M", 512 << 20, id="mega"),
        pytest.param("20G", 20 << 30, id="giga"),
        pytest.param("1.5T", int(1.5 * (1 << 40)), id="fraction"),
        pytest.param("4GiB", 4 << 30, id="gib"),
        pytest.param(4096, 4096, id="bytes"),
        pytest.param("rest", None, id="rest"),
    ],
)
def test_sizes(text: str | int, expected: int | None) -> None:
    assert v.size("k", text, allow_rest=True) == expected


@pytest.mark.parametrize("text", ["0", "-1G", "big", "rest", True, 0])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ConfigError):
        v.size("k", text)
