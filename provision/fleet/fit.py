"""Profile fit: what a profile's binaries demand of the CPU, and whether a machine has it.

A binhost built with `-march=x86-64-v3` dies with SIGILL on a v2 CPU.  The requirement comes
from three settings of the profile (pure, `requirement_of`):

- CHOST: the architecture (`x86_64-*` needs a 64-bit x86 CPU; `i686-*` any x86);
- CFLAGS / CXXFLAGS: the last `-march=` (a level such as `x86-64-v2`, or a GCC CPU name from
  the table below) and ISA switches such as `-mavx2` / `-mno-avx2`, in order;
- CPU_FLAGS_X86: the instruction sets packages were told to use unconditionally.

Flags are in /proc/cpuinfo spelling (see provision.fleet.cpu).  An -march this table does not
know, `-march=native` and an unknown CPU_FLAGS_X86 value are errors: a requirement that cannot
be known is not guessed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from provision.errors import ConfigError, ProvisionError
from provision.fleet.cpu import BASELINE, Level, describe_flags, level_flags, level_of
from provision.profiles.load import ProfileSet
from provision.profiles.model import Profile

_V1, _V2, _V3, _V4 = (level_flags(lv) for lv in Level)


def _f(words: str) -> frozenset[str]:
    return frozenset(words.split())


_HSW = _V3 | _f("pclmulqdq aes fsgsbase rdrand")
_BDW = _HSW | _f("adx rdseed")
_SKL = _BDW | _f("clflushopt xsavec xsaves")
_SKX = _SKL | _V4 | _f("clwb pku")
_CNL = _SKL | _V4 | _f("avx512ifma avx512vbmi sha_ni pku")
_ICL = _CNL | _f(
    "avx512_vbmi2 gfni vpclmulqdq vaes avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid"
)
_ZN1 = _V3 | _f("pclmulqdq aes fsgsbase rdrand adx rdseed sha_ni sse4a clflushopt xsavec xsaves")
_ZN3 = _ZN1 | _f("clwb rdpid vaes vpclmulqdq")
# GCC -march names -> the flags (cpuinfo spelling) the code may use.  x86_64 names only
# (with long mode); the 32-bit ones are in _MARCH_X86.
MARCH: dict[str, frozenset[str]] = {
    "x86-64": _V1,
    "x86-64-v2": _V2,
    "x86-64-v3": _V3,
    "x86-64-v4": _V4,
    "k8": _V1 | _f("3dnow 3dnowext"),
    "k8-sse3": _V1 | _f("3dnow 3dnowext pni"),
    "amdfam10": _V1 | _f("3dnow 3dnowext pni sse4a abm popcnt cx16 lahf_lm"),
    "nocona": _V1 | _f("pni"),
    "core2": _V1 | _f("pni ssse3 cx16 lahf_lm"),
    "nehalem": _V2,
    "westmere": _V2 | _f("pclmulqdq aes"),
    "sandybridge": _V2 | _f("pclmulqdq aes avx xsave"),
    "ivybridge": _V2 | _f("pclmulqdq aes avx xsave fsgsbase rdrand f16c"),
    "haswell": _HSW,
    "broadwell": _BDW,
    "skylake": _SKL,
    "skylake-avx512": _SKX,
    "cascadelake": _SKX | _f("avx512_vnni"),
    "cooperlake": _SKX | _f("avx512_vnni avx512_bf16"),
    "cannonlake": _CNL,
    "icelake-client": _ICL,
    "icelake-server": _ICL,
    "tigerlake": _ICL | _f("movdiri movdir64b avx512_vp2intersect"),
    "sapphirerapids": _ICL
    | _f("avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8 serialize movdiri movdir64b"),
    "alderlake": _SKL | _f("gfni vaes vpclmulqdq sha_ni avx_vnni movdiri movdir64b serialize"),
    "znver1": _ZN1,
    "znver2": _ZN1 | _f("clwb rdpid"),
    "znver3": _ZN3,
    "znver4": _ZN3
    | _V4
    | _f(
        "avx512ifma avx512vbmi avx512_vbmi2 gfni avx512_vnni avx512_bitalg avx512_vpopcntdq "
        "avx512_bf16"
    ),
}
_ALIASES = {
    "corei7": "nehalem",
    "corei7-avx": "sandybridge",
    "core-avx-i": "ivybridge",
    "core-avx2": "haswell",
    "opteron": "k8",
    "athlon64": "k8",
    "athlon-fx": "k8",
    "opteron-sse3": "k8-sse3",
    "athlon64-sse3": "k8-sse3",
    "barcelona": "amdfam10",
    "rocketlake": "icelake-client",
    "raptorlake": "alderlake",
    "meteorlake": "alderlake",
}
_MARCH_X86: dict[str, frozenset[str]] = {  # 32-bit CPUs (CHOST i?86-*)
    "i386": frozenset(),
    "i486": frozenset(),
    "i586": frozenset({"cx8"}),
    "pentium": frozenset({"cx8"}),
    "i686": frozenset({"cx8", "cmov"}),
    "pentiumpro": frozenset({"cx8", "cmov"}),
    "pentium2": frozenset({"cx8", "cmov", "mmx"}),
    "pentium3": frozenset({"cx8", "cmov", "mmx", "sse"}),
    "pentium-m": frozenset({"cx8", "cmov", "mmx", "sse", "sse2"}),
    "pentium4": frozenset({"cx8", "cmov", "mmx", "sse", "sse2"}),
    "prescott": frozenset({"cx8", "cmov", "mmx", "sse", "sse2", "pni"}),
}
# -m<isa> switches -> flags
ISA_SWITCHES: dict[str, frozenset[str]] = {
    name: frozenset(flags.split())
    for name, flags in {
        "mmx": "mmx", "sse": "sse", "sse2": "sse2", "sse3": "pni", "ssse3": "ssse3",
        "sse4.1": "sse4_1", "sse4.2": "sse4_2", "sse4": "sse4_1 sse4_2", "sse4a": "sse4a",
        "popcnt": "popcnt", "avx": "avx xsave", "avx2": "avx2", "fma": "fma", "fma4": "fma4",
        "bmi": "bmi1", "bmi2": "bmi2", "f16c": "f16c", "lzcnt": "abm", "movbe": "movbe",
        "aes": "aes", "pclmul": "pclmulqdq", "cx16": "cx16", "sahf": "lahf_lm",
        "xsave": "xsave", "rdrnd": "rdrand", "rdseed": "rdseed", "adx": "adx",
        "fsgsbase": "fsgsbase", "sha": "sha_ni", "avx512f": "avx512f", "avx512bw": "avx512bw",
        "avx512cd": "avx512cd", "avx512dq": "avx512dq", "avx512vl": "avx512vl",
        "avx512ifma": "avx512ifma", "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2",
        "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
        "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16",
        "avx512fp16": "avx512_fp16", "vaes": "vaes", "vpclmulqdq": "vpclmulqdq",
        "gfni": "gfni", "xop": "xop", "3dnow": "3dnow", "avxvnni": "avx_vnni",
    }.items()
}  # fmt: skip
# Gentoo's CPU_FLAGS_X86 values -> cpuinfo flags.  mmxext: the MMX extensions are part of
# SSE (Intel CPUs list only `sse`; AMD ones both), so `sse` stands for it.
CPU_FLAGS_X86: dict[str, str] = {
    "3dnow": "3dnow", "3dnowext": "3dnowext", "aes": "aes", "avx": "avx", "avx2": "avx2",
    "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512cd": "avx512cd",
    "avx512dq": "avx512dq", "avx512vl": "avx512vl", "avx512er": "avx512er",
    "avx512pf": "avx512pf", "avx512ifma": "avx512ifma", "avx512_vbmi": "avx512vbmi",
    "avx512_vbmi2": "avx512_vbmi2", "avx512_bitalg": "avx512_bitalg",
    "avx512_vnni": "avx512_vnni", "avx512_vpopcntdq": "avx512_vpopcntdq",
    "avx512_bf16": "avx512_bf16", "avx512_fp16": "avx512_fp16",
    "avx512_vp2intersect": "avx512_vp2intersect", "avx512_4fmaps": "avx512_4fmaps",
    "avx512_4vnniw": "avx512_4vnniw", "avx_vnni": "avx_vnni", "bmi1": "bmi1", "bmi2": "bmi2",
    "f16c": "f16c", "fma3": "fma", "fma4": "fma4", "mmx": "mmx", "mmxext": "sse",
    "padlock": "phe", "pclmul": "pclmulqdq", "popcnt": "popcnt", "rdrand": "rdrand",
    "sha": "sha_ni", "sse": "sse", "sse2": "sse2", "sse3": "pni", "sse4_1": "sse4_1",
    "sse4_2": "sse4_2", "sse4a": "sse4a", "ssse3": "ssse3", "vpclmulqdq": "vpclmulqdq",
    "xop": "xop",
}  # fmt: skip
_FLAG_VARS = ("CFLAGS", "CXXFLAGS", "FCFLAGS", "FFLAGS")
_X86 = re.compile(r"i[3-6]86\Z")


@dataclass(frozen=True)
class CpuRequirement:
    """What a profile's binaries need: an architecture and CPU flags (cpuinfo spelling)."""

    arch: str  # x86_64, x86 (32-bit), or another CHOST architecture
    flags: frozenset[str]
    sources: tuple[str, ...] = ()  # where each part came from, for people

    @property
    def level(self) -> Level | None:
        """The x86-64 level the flags amount to (None: not an x86_64 requirement)."""
        return level_of(self.flags) if self.arch == "x86_64" else None

    @property
    def extra(self) -> frozenset[str]:
        """Flags beyond the level."""
        level = self.level
        return self.flags - (level_flags(level) if level else frozenset())

    def summary(self) -> str:
        """`x86-64-v2 + aes, pclmulqdq (PCLMUL)` / `x86 (32-bit) + sse2` / `aarch64`."""
        level = self.level
        if self.arch == "x86_64":
            head = level.label if level else "x86_64"
        elif self.arch == "x86":
            head = "x86 (32-bit)"
        else:
            head = self.arch
        extra = self.extra if self.arch in ("x86_64", "x86") else frozenset()
        return head + (f" + {describe_flags(extra)}" if extra else "")


@dataclass(frozen=True)
class Fit:
    """Whether a machine can run a profile: `ok`, else what is missing and one line why."""

    ok: bool
    missing: tuple[str, ...] = ()
    reason: str = ""


def _arch_of(chost: str) -> str:
    arch = chost.split("-", 1)[0].strip()
    if arch == "x86_64":
        return "x86_64"
    if _X86.match(arch):
        return "x86"
    return arch or "x86_64"


def _flag_words(profile: Profile) -> list[tuple[str, str]]:
    """(variable, word) for every word of CFLAGS, CXXFLAGS... with ${CFLAGS} expanded."""
    p = profile.portage
    values = {"CFLAGS": p.cflags, "CXXFLAGS": p.cxxflags, **p.extra}
    cflags = p.cflags
    out: list[tuple[str, str]] = []
    for var in _FLAG_VARS:
        text = values.get(var, "")
        text = text.replace("${CFLAGS}", cflags).replace("$CFLAGS", cflags)
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise ConfigError(f"{profile.source}: portage.{var.lower()}", str(exc)) from exc
        out += [(var, w) for w in words]
    return out


def requirement_of(profile: Profile) -> CpuRequirement:
    """The CPU requirement of a profile (pure); ConfigError when it cannot be known."""
    p = profile.portage
    arch = _arch_of(p.chost)
    where = profile.source or profile.name
    if arch not in ("x86_64", "x86"):
        return CpuRequirement(arch, frozenset(), (f"CHOST {p.chost}",))
    table = MARCH if arch == "x86_64" else _MARCH_X86
    base = BASELINE if arch == "x86_64" else frozenset()
    sources = [f"CHOST {p.chost}: " + ("64-bit x86" if arch == "x86_64" else "32-bit x86")]
    march_flags = base
    switches: dict[str, bool] = {}  # explicit -mX / -mno-X: the last one of each counts
    words: dict[str, list[str]] = {}  # the words that count -> the variables they are in
    for var, word in _flag_words(profile):
        if word.startswith("-march="):
            march = word[len("-march=") :]
            key = f"{where}: portage.{var.lower()}"
            if march == "native":
                raise ConfigError(
                    key, "-march=native builds for the builder's own CPU: name a level "
                    "(-march=x86-64-v2) or a CPU (-march=haswell) so machines can be checked",
                )  # fmt: skip
            name = _ALIASES.get(march, march)
            if name not in table:
                known = ", ".join(sorted(table))
                raise ConfigError(key, f"-march={march} is not known here (known: {known})")
            march_flags = base | table[name]  # the last -march counts
            words.setdefault(word, []).append(var)
        elif word.startswith("-mno-") and word[5:] in ISA_SWITCHES:
            switches[word[5:]] = False
            words.setdefault(word, []).append(var)
        elif word.startswith("-m") and word[2:] in ISA_SWITCHES:
            switches[word[2:]] = True
            words.setdefault(word, []).append(var)
    sources += [f"{word} ({', '.join(dict.fromkeys(vs))})" for word, vs in words.items()]
    # GCC: explicit ISA switches win over -march, wherever they stand
    flags = set(march_flags)
    for name, on in switches.items():
        flags = flags | ISA_SWITCHES[name] if on else flags - ISA_SWITCHES[name]
    cpu_flags = []
    for value in p.cpu_flags_x86:
        mapped = CPU_FLAGS_X86.get(value)
        if mapped is None:
            raise ConfigError(
                f"{where}: portage.cpu_flags_x86",
                f"{value!r} is not a CPU_FLAGS_X86 value known here "
                f"(known: {', '.join(sorted(CPU_FLAGS_X86))})",
            )
        cpu_flags.append(mapped)
    if cpu_flags:
        flags |= set(cpu_flags)
        sources.append("CPU_FLAGS_X86: " + " ".join(p.cpu_flags_x86))
    return CpuRequirement(arch, frozenset(flags), tuple(sources))


def fit(req: CpuRequirement, machine_arch: str, flags: Iterable[str]) -> Fit:
    """Can a CPU (architecture as `uname -m` says, flags from /proc/cpuinfo) run it?"""
    have = set(flags)
    arch = _arch_of(machine_arch) if machine_arch else "x86_64"
    if req.arch not in ("x86_64", "x86"):
        if arch == req.arch:
            return Fit(True)
        return Fit(False, (), f"built for {req.arch}; this machine is {machine_arch or arch}")
    if arch not in ("x86_64", "x86"):
        return Fit(False, (), f"built for {req.arch}; this machine is {machine_arch}")
    missing = tuple(sorted(req.flags - have))
    if not missing:
        return Fit(True)
    level = level_of(have)
    what = level.label if level else ("x86 (32-bit)" if "lm" not in have else "below x86-64")
    return Fit(
        False,
        missing,
        f"needs {req.summary()}; this CPU is {what}: missing {describe_flags(missing)}",
    )


def profile_requirements(profiles: ProfileSet) -> dict[str, CpuRequirement | str]:
    """Each profile's CPU requirement, or the one-line error that keeps it from being known."""
    out: dict[str, CpuRequirement | str] = {}
    for name in profiles.names():
        try:
            out[name] = requirement_of(profiles.get(name))
        except ProvisionError as exc:
            out[name] = str(exc)
    return out


def profile_fits(
    requirements: dict[str, CpuRequirement | str], machine_arch: str, flags: Iterable[str]
) -> dict[str, Fit]:
    """Every profile's fit on one machine; an unknown requirement never fits."""
    have = frozenset(flags)
    return {
        name: Fit(False, (), f"its CPU requirement is unknown: {req}")
        if isinstance(req, str)
        else fit(req, machine_arch, have)
        for name, req in requirements.items()
    }
