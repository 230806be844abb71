"""x86-64 micro-architecture levels from CPU flags, the way glibc's hwcaps decide them.

The levels are those of the x86-64 psABI (glibc `sysdeps/x86/get-isa-level.h`):

- v1 (baseline): CMOV, CX8, FPU, FXSR, MMX, SSE, SSE2 (and long mode);
- v2: v1 + CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3;
- v3: v2 + AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, OSXSAVE;
- v4: v3 + AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL.

Flags are kept in the spelling of Linux's /proc/cpuinfo, which differs from the psABI's for a
few of them: SSE3 is `pni`, LAHF/SAHF `lahf_lm`, LZCNT `abm`, CMPXCHG16B `cx16`, and OSXSAVE
shows as `xsave` (the kernel hides the OSXSAVE bit; it clears `xsave`, and AVX with it, when
it does not enable XSAVE).  Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from provision.errors import ConfigError


class Level(IntEnum):
    """An x86-64 level (ordered, hence an IntEnum: v3 >= v2)."""

    V1 = 1
    V2 = 2
    V3 = 3
    V4 = 4

    @property
    def label(self) -> str:
        return f"x86-64-v{self.value}"

    @property
    def short(self) -> str:
        return f"v{self.value}"

    @classmethod
    def parse(cls, where: str, value: Any) -> Level:
        """v2, x86-64-v2, 2, x86-64 / baseline (= v1); ConfigError otherwise."""
        text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
        if isinstance(value, bool):
            text = ""
        text = text.removeprefix("x86-64-").removeprefix("x86_64-")
        if text in ("x86-64", "x86_64", "baseline"):
            text = "v1"
        if text in ("v1", "v2", "v3", "v4", "1", "2", "3", "4"):
            return cls(int(text[-1]))
        raise ConfigError(where, f"{value!r} is not an x86-64 level (v1, v2, v3 or v4)")


BASELINE = frozenset({"lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "sse", "sse2"})
_ADDED = {
    Level.V1: BASELINE,
    Level.V2: frozenset({"cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"}),
    Level.V3: frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
    Level.V4: frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
}
# /proc/cpuinfo spelling -> the psABI / vendor name, where they differ (for messages)
PSABI_NAMES = {
    "pni": "SSE3",
    "lahf_lm": "LAHF/SAHF",
    "abm": "LZCNT",
    "cx16": "CMPXCHG16B",
    "xsave": "OSXSAVE",
    "lm": "long mode",
    "pclmulqdq": "PCLMUL",
    "sha_ni": "SHA",
}


def level_flags(level: Level) -> frozenset[str]:
    """Every flag (cpuinfo spelling) a CPU of this level has."""
    out: set[str] = set()
    for lv in Level:
        if lv <= level:
            out |= _ADDED[lv]
    return frozenset(out)


def level_of(flags: Iterable[str]) -> Level | None:
    """The highest level whose flags are all present; None below the 64-bit baseline."""
    have = set(flags)
    found: Level | None = None
    for lv in Level:
        if not _ADDED[lv] <= have:
            break
        found = lv
    return found


def missing_for(level: Level, flags: Iterable[str]) -> list[str]:
    """The flags of `level` that a CPU with `flags` lacks, sorted."""
    return sorted(level_flags(level) - set(flags))


def describe_flag(flag: str) -> str:
    """`pni (SSE3)` for flags spelled differently in /proc/cpuinfo, else the flag."""
    alias = PSABI_NAMES.get(flag)
    return f"{flag} ({alias})" if alias else flag


def describe_flags(flags: Iterable[str]) -> str:
    return ", ".join(describe_flag(f) for f in sorted(flags))


@dataclass(frozen=True)
class CpuInfo:
    """What /proc/cpuinfo says about the CPU (of the first processor; all are alike)."""

    model: str = ""
    vendor: str = ""
    flags: frozenset[str] = frozenset()
    threads: int = 0  # logical CPUs
    cores: int = 0  # physical cores (distinct physical id/core id), else threads

    @property
    def level(self) -> Level | None:
        return level_of(self.flags)


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse /proc/cpuinfo (x86; other architectures give model/threads and `Features`)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current.setdefault(key.strip().lower(), value.strip())
    if current:
        blocks.append(current)
    processors = [b for b in blocks if "processor" in b] or blocks
    if not processors:
        return CpuInfo()
    first = processors[0]
    flags = first.get("flags") or first.get("features", "")
    pairs = {(b.get("physical id", ""), b.get("core id", "")) for b in processors if "core id" in b}
    threads = len(processors)
    return CpuInfo(
        model=first.get("model name") or first.get("cpu model") or first.get("hardware", ""),
        vendor=first.get("vendor_id", ""),
        flags=frozenset(flags.split()),
        threads=threads,
        cores=len(pairs) or threads,
    )
