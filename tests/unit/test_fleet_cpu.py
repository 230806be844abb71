"""x86-64 levels from real /proc/cpuinfo samples, the way glibc's hwcaps decide them."""

from __future__ import annotations

import pytest

from provision.errors import ConfigError
from provision.fleet.cpu import (
    Level,
    describe_flag,
    level_flags,
    level_of,
    missing_for,
    parse_cpuinfo,
)
from tests.unit.fleet_samples import (
    HASWELL,
    NEHALEM,
    NEHALEM_MINUS,
    QEMU64,
    QEMU_MAX,
    SAPPHIRE,
    SKYLAKE_SP,
    cpuinfo,
)


@pytest.mark.parametrize(
    ("sample", "level", "model"),
    [
        pytest.param(QEMU64, Level.V1, "QEMU Virtual CPU version 2.5+", id="qemu64-v1"),
        pytest.param(NEHALEM_MINUS, Level.V1, "Intel Core i7 9xx (Nehalem Class Core i7)",
                     id="nehalem-minus-v1"),
        pytest.param(NEHALEM, Level.V2, "Intel Core i7 9xx (Nehalem Class Core i7)",
                     id="nehalem-v2"),
        pytest.param(HASWELL, Level.V3, "Intel Core Processor (Haswell, no TSX, IBRS)",
                     id="haswell-v3"),
        pytest.param(QEMU_MAX, Level.V3, "QEMU TCG CPU version 2.5+", id="qemu-max-v3"),
        pytest.param(SAPPHIRE, Level.V4, "Intel(R) Xeon(R) Processor", id="sapphirerapids-v4"),
        pytest.param(SKYLAKE_SP, Level.V4, "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
                     id="skylake-sp-v4"),
    ],
)  # fmt: skip
def test_level_of_real_samples(sample: str, level: Level, model: str) -> None:
    info = cpuinfo(sample)
    assert info.level is level
    assert info.model == model


def test_cpuinfo_spellings_decide_v2() -> None:
    """SSE3 is `pni`, LAHF/SAHF `lahf_lm`, CMPXCHG16B `cx16` in /proc/cpuinfo: the psABI names
    alone do not make a v2 CPU, the cpuinfo ones do."""
    v1 = cpuinfo(QEMU64).flags - {"pni", "lahf_lm", "cx16"}
    psabi = v1 | {"sse3", "lahf", "cmpxchg16b", "popcnt", "sse4_1", "sse4_2", "ssse3"}
    assert level_of(psabi) is Level.V1
    assert level_of(psabi | {"pni", "lahf_lm", "cx16"}) is Level.V2


def test_lzcnt_is_abm_and_osxsave_is_xsave() -> None:
    haswell = cpuinfo(HASWELL).flags
    assert level_of(haswell) is Level.V3
    assert level_of(haswell - {"abm"}) is Level.V2  # LZCNT
    assert level_of(haswell - {"xsave"}) is Level.V2  # OSXSAVE
    assert level_of(cpuinfo(SAPPHIRE).flags - {"avx512vl"}) is Level.V3


def test_missing_flags_of_the_e2e_cpu() -> None:
    """Nehalem with sse4.2 and popcnt removed (the e2e machine) misses exactly those for v2."""
    flags = cpuinfo(NEHALEM_MINUS).flags
    assert missing_for(Level.V2, flags) == ["popcnt", "sse4_2"]
    assert missing_for(Level.V3, cpuinfo(NEHALEM).flags) == [
        "abm", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave",
    ]  # fmt: skip


def test_below_baseline_and_32_bit() -> None:
    assert level_of(set()) is None
    assert level_of(cpuinfo(QEMU64).flags - {"lm"}) is None  # a 32-bit CPU


def test_levels_are_cumulative() -> None:
    assert level_flags(Level.V1) < level_flags(Level.V2) < level_flags(Level.V3)
    assert level_flags(Level.V3) < level_flags(Level.V4)
    assert {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= level_flags(Level.V4)


def test_parse_counts_cores_and_threads() -> None:
    text = "".join(
        f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: X\nphysical id\t: 0\n"
        f"core id\t\t: {i // 2}\nflags\t\t: fpu lm\n\n"
        for i in range(8)
    )
    info = parse_cpuinfo(text)
    assert (info.threads, info.cores, info.vendor) == (8, 4, "GenuineIntel")
    assert parse_cpuinfo("").level is None


@pytest.mark.parametrize(
    ("text", "level"),
    [("v2", Level.V2), ("x86-64-v3", Level.V3), ("x86-64", Level.V1), (4, Level.V4)],
)
def test_level_parse(text: object, level: Level) -> None:
    assert Level.parse("cpu_level", text) is level


@pytest.mark.parametrize("text", ["v5", "", "haswell", True, 1.5])
def test_level_parse_refuses(text: object) -> None:
    with pytest.raises(ConfigError, match=r"cpu_level: .* is not an x86-64 level"):
        Level.parse("cpu_level", text)


def test_describe_flag() -> None:
    assert describe_flag("pni") == "pni (SSE3)"
    assert describe_flag("abm") == "abm (LZCNT)"
    assert describe_flag("avx2") == "avx2"
