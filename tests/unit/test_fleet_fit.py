"""Profile fit: the CPU a profile's binaries need (CHOST, -march, -m switches, CPU_FLAGS_X86),
and whether the CPUs of real cpuinfo samples can run them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from provision.errors import ConfigError
from provision.fleet.cpu import Level
from provision.fleet.fit import (
    fit,
    profile_fits,
    profile_requirements,
    requirement_of,
)
from provision.profiles import ProfileSet
from provision.profiles.model import Profile
from tests.conftest import PROFILES
from tests.unit.fleet_samples import (
    HASWELL,
    NEHALEM,
    NEHALEM_MINUS,
    QEMU64,
    QEMU_MAX,
    SAPPHIRE,
    cpuinfo,
)


def profile(cflags: str = "-O2 -pipe", cpu_flags: tuple[str, ...] = (), **portage: Any) -> Profile:
    base = ProfileSet(PROFILES).get("server-amd64")
    settings = replace(base.portage, cflags=cflags, cpu_flags_x86=cpu_flags, **portage)
    return replace(base, portage=settings, source="t.toml")


VMS = ("vm-amd64", "vm-amd64-sb")  # the same CPU requirement (baseline x86-64)


def test_the_bundled_profiles() -> None:
    reqs = profile_requirements(ProfileSet(PROFILES))
    levels = {name: r.level for name, r in reqs.items() if not isinstance(r, str)}
    assert levels == {
        "desktop-amd64": Level.V2,
        "laptop-amd64": Level.V2,  # inherits desktop's -march and CPU_FLAGS_X86
        "server-amd64": Level.V1,
        "vm-amd64": Level.V1,
        "vm-amd64-sb": Level.V1,  # vm-amd64 with Secure Boot
    }
    desktop = reqs["desktop-amd64"]
    assert not isinstance(desktop, str)
    assert "-march=x86-64-v2 (CFLAGS, CXXFLAGS)" in desktop.sources
    assert any(s.startswith("CPU_FLAGS_X86: mmx mmxext") for s in desktop.sources)


@pytest.mark.parametrize(
    ("cflags", "cpu_flags", "level", "extra"),
    [
        pytest.param("-O2", (), Level.V1, set(), id="no-march"),
        pytest.param("-O2 -march=x86-64-v3", (), Level.V3, set(), id="level"),
        pytest.param("-march=haswell -O2", (), Level.V3,
                     {"aes", "pclmulqdq", "fsgsbase", "rdrand"}, id="cpu-name"),
        pytest.param("-march=core-avx2", (), Level.V3,
                     {"aes", "pclmulqdq", "fsgsbase", "rdrand"}, id="alias"),
        pytest.param("-march=x86-64-v4 -march=x86-64-v2", (), Level.V2, set(), id="last-wins"),
        pytest.param("-march=x86-64-v3 -mno-avx2", (), Level.V2,
                     {"avx", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"},
                     id="mno-drops"),
        pytest.param("-mno-avx2 -march=x86-64-v3", (), Level.V2,
                     {"avx", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"},
                     id="mno-wins-wherever"),
        pytest.param("-march=x86-64-v2 -maes -mpclmul", (), Level.V2, {"aes", "pclmulqdq"},
                     id="m-adds"),
        pytest.param("-O2", ("sse3", "fma3", "pclmul", "mmxext"), Level.V1,
                     {"pni", "fma", "pclmulqdq"}, id="cpu-flags-spellings"),
        pytest.param("-march=skylake-avx512", (), Level.V4,
                     {"aes", "pclmulqdq", "fsgsbase", "rdrand", "adx", "rdseed", "clflushopt",
                      "xsavec", "xsaves", "clwb", "pku"}, id="avx512"),
    ],
)  # fmt: skip
def test_requirement(
    cflags: str, cpu_flags: tuple[str, ...], level: Level, extra: set[str]
) -> None:
    req = requirement_of(profile(cflags, cpu_flags))
    assert req.arch == "x86_64"
    assert req.level is level
    assert req.extra == extra


def test_cxxflags_expand_cflags_and_count_on_their_own() -> None:
    req = requirement_of(profile("-O2", cxxflags="${CFLAGS} -mavx2"))
    assert "avx2" in req.flags and req.level is Level.V1


def test_chost() -> None:
    assert requirement_of(profile(chost="i686-pc-linux-gnu")).arch == "x86"
    req = requirement_of(profile("-march=pentium4", chost="i686-pc-linux-gnu"))
    assert req.flags == {"cx8", "cmov", "mmx", "sse", "sse2"} and req.level is None
    arm = requirement_of(profile("-march=armv8-a", chost="aarch64-unknown-linux-gnu"))
    assert arm.arch == "aarch64" and arm.summary() == "aarch64"
    assert not fit(arm, "x86_64", cpuinfo(SAPPHIRE).flags).ok
    assert fit(arm, "aarch64", []).ok


@pytest.mark.parametrize(
    ("cflags", "cpu_flags", "message"),
    [
        pytest.param("-march=native", (), "-march=native builds for the builder's own CPU",
                     id="native"),
        pytest.param("-march=pentium9", (), "-march=pentium9 is not known here", id="unknown"),
        pytest.param("-O2", ("sse9",), "'sse9' is not a CPU_FLAGS_X86 value", id="cpu-flag"),
        pytest.param("-O2 '-march", (), "No closing quotation", id="quote"),
    ],
)  # fmt: skip
def test_unknowable_requirements_are_errors(
    cflags: str, cpu_flags: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        requirement_of(profile(cflags, cpu_flags))
    assert str(err.value).startswith("t.toml: portage.")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("sample", "runs"),
    [
        pytest.param(QEMU64, {"server-amd64", *VMS}, id="qemu64"),
        pytest.param(NEHALEM_MINUS, {"server-amd64", *VMS}, id="nehalem-minus"),
        pytest.param(NEHALEM, {"server-amd64", *VMS, "desktop-amd64", "laptop-amd64"},
                     id="nehalem"),
        pytest.param(QEMU_MAX, {"server-amd64", *VMS, "desktop-amd64", "laptop-amd64"},
                     id="max"),
    ],
)  # fmt: skip
def test_which_bundled_profiles_a_cpu_runs(sample: str, runs: set[str]) -> None:
    fits = profile_fits(profile_requirements(ProfileSet(PROFILES)), "x86_64", cpuinfo(sample).flags)
    assert {name for name, f in fits.items() if f.ok} == runs


def test_fit_names_what_is_missing() -> None:
    req = requirement_of(ProfileSet(PROFILES).get("laptop-amd64"))
    result = fit(req, "x86_64", cpuinfo(NEHALEM_MINUS).flags)
    assert not result.ok
    assert result.missing == ("popcnt", "sse4_2")
    assert result.reason == ("needs x86-64-v2; this CPU is x86-64-v1: missing popcnt, sse4_2")
    v3 = requirement_of(profile("-march=haswell"))
    assert fit(v3, "x86_64", cpuinfo(HASWELL).flags).ok
    nope = fit(v3, "x86_64", cpuinfo(NEHALEM).flags)
    assert "abm (LZCNT)" in nope.reason and "xsave (OSXSAVE)" in nope.reason


def test_unknown_requirement_never_fits() -> None:
    fits = profile_fits({"p": "t.toml: -march=native ..."}, "x86_64", cpuinfo(SAPPHIRE).flags)
    assert not fits["p"].ok and "requirement is unknown" in fits["p"].reason
