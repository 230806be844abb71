"""The profile loader against any input (hypothesis): a profile file that is anything at all,
or TOML shaped like a profile with hostile values, loads into a Profile or is refused with a
ProvisionError (ConfigError, NotFound) naming the problem, never another exception.  And what
the loader accepts cannot add a line to the files rendered from it (make.conf, package.use,
world, binrepos.conf, the kernel config)."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.errors import ProvisionError
from provision.portage.render import (
    BuildContext,
    render_accept_keywords,
    render_binrepos_conf,
    render_client_make_conf,
    render_kernel_config,
    render_make_conf,
    render_package_use,
    render_world,
)
from provision.profiles import ProfileSet
from provision.profiles.model import Profile

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
HOSTILE = ["", "\n", "x\ny", "a/b\n", "$(reboot)", '"', "\\", "\x00", "..", "/etc/passwd",
           "../../etc/passwd", "-", "1" * 400, "\u2028", "${HOME}", "a b"]  # fmt: skip
REALISTIC = ["app-misc/hello", ">=dev-libs/nss-3.45", "dev-libs/foo:0/1", "wifi", "-X",
             "512M", "20G", "rest", "1.5T", "ext4", "vfat", "swap", "gpt", "mbr", "uefi",
             "bios", "auto", "first", "largest", "/", "/boot", "/efi", "merge", "keep",
             "6.1", "default/linux/amd64/23.0", "~amd64", "-O2 -pipe", "gentoo",
             "server-amd64"]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(REALISTIC + HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


def values(depth: int = 3) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from([*REALISTIC, *HOSTILE[:6]]), inner, max_size=3),
        ),
        max_leaves=12,
    )


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from([*keys, "bogus"]), values(), max_size=len(keys))


PROFILE_LIKE = st.fixed_dictionaries(
    {
        "portage": st.one_of(
            st.fixed_dictionaries(
                {"profile": st.sampled_from(["default/linux/amd64/23.0", *HOSTILE])},
                optional={
                    "use": st.lists(st.sampled_from(REALISTIC + HOSTILE), max_size=4),
                    "cflags": st.sampled_from(REALISTIC + HOSTILE),
                    "package_use": st.dictionaries(
                        st.sampled_from(REALISTIC + HOSTILE),
                        st.lists(st.sampled_from(REALISTIC + HOSTILE), max_size=3),
                        max_size=3,
                    ),
                    "accept_keywords": st.dictionaries(
                        st.sampled_from(REALISTIC + HOSTILE),
                        st.lists(st.sampled_from(REALISTIC + HOSTILE), max_size=2),
                        max_size=2,
                    ),
                    "extra": st.dictionaries(
                        st.sampled_from(["FOO", "BAR_1", *HOSTILE]),
                        st.sampled_from(REALISTIC + HOSTILE),
                        max_size=2,
                    ),
                    "binary_only": st.booleans(),
                },
            ),
            values(),
        ),
        "repositories": st.one_of(
            st.just([{"name": "gentoo", "location": "/var/db/repos/gentoo"}]),
            st.lists(table(["name", "location", "sync_uri"]), max_size=2),
            values(),
        ),
    },
    optional={
        "packages": st.lists(st.sampled_from(REALISTIC + HOSTILE), max_size=5),
        "kernel": table(["package", "config", "min_version"]),
        "bootstrap": st.lists(table(["atom", "use"]), max_size=2),
        "disk": st.one_of(
            table(["firmware", "table", "select", "min_size", "swap"]),
            st.fixed_dictionaries(
                {"partitions": st.lists(table(["mountpoint", "size", "filesystem"]), max_size=3)}
            ),
        ),
        "etc_merge": table(["default", "ignore_whitespace_comments", "frozen", "rules"]),
        "description": st.sampled_from(REALISTIC + HOSTILE),
        "inherits": st.sampled_from(["base", "/etc/passwd", "../x", "", "child", *HOSTILE]),
        "name": st.sampled_from(["child", "other", *HOSTILE]),
    },
)


# --- a small TOML writer for the generated data ---------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are TOML escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in data.items())


BASE = (
    'description = "base"\n[portage]\nprofile = "default/linux/amd64/23.0"\n'
    '[[repositories]]\nname = "gentoo"\nlocation = "/var/db/repos/gentoo"\n'
)


def load_child(text: str) -> Profile | None:
    """child.toml with this text beside a valid base.toml; the Profile, or None if refused."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "base.toml").write_text(BASE)
        (directory / "child.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return ProfileSet(directory).get("child")
        except ProvisionError as exc:
            assert str(exc)  # one line that says what is wrong
            return None


# --- the loader -----------------------------------------------------------------------------------
@SETTINGS
@given(text=st.text(max_size=400))
def test_any_text_is_a_profile_or_a_config_error(text: str) -> None:
    load_child(text)


@SETTINGS
@given(data=PROFILE_LIKE)
def test_any_profile_shaped_toml_is_a_profile_or_a_config_error(data: dict[str, Any]) -> None:
    profile = load_child(toml_document(data))
    if profile is not None:
        check_rendered(profile)


def test_deep_nesting_is_a_config_error() -> None:
    assert load_child("x = " + "[" * 5000 + "]" * 5000 + "\n") is None


def test_the_generator_makes_profiles_too() -> None:
    """The strategy reaches valid profiles (else the render check above would never run)."""
    profile = load_child(toml_document({
        "portage": {"profile": "default/linux/amd64/23.0", "use": ["wifi"]},
        "repositories": [{"name": "gentoo", "location": "/var/db/repos/gentoo"}],
        "packages": ["app-misc/hello"],
    }))  # fmt: skip
    assert profile is not None and profile.packages == ("app-misc/hello",)
    check_rendered(profile)


# --- what is rendered from a profile --------------------------------------------------------------
ASSIGNMENT = re.compile(r'[A-Z_][A-Z0-9_]*="(?:[^"\\\n\r]|\\.)*"\Z')
LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def lines(text: str) -> list[str]:
    assert text == "" or text.endswith("\n")
    body = text[:-1] if text else ""
    parts = body.split("\n") if body else []
    assert not any(LINE_BREAKS.search(p) for p in parts), parts  # no other line break
    return parts


def check_rendered(profile: Profile) -> None:
    ctx = BuildContext(pkgdir="/var/cache/binpkgs", distdir="/var/cache/distfiles",
                       tmpdir="/var/tmp")  # fmt: skip
    for text in (
        render_make_conf(profile, ctx),
        render_client_make_conf(profile, verify_home="/x"),
    ):
        for line in lines(text):
            assert line.startswith("# ") or ASSIGNMENT.match(line), line
    p = profile.portage
    assert len(lines(render_package_use(profile))) == len(p.package_use)
    assert len(lines(render_accept_keywords(profile))) == len(p.accept_keywords)
    world = set(profile.packages) | ({profile.kernel.package} - {""})
    assert len(lines(render_world(profile))) == len(world)
    assert len(lines(render_kernel_config(profile))) == len(profile.kernel.config)
    assert len(lines(render_binrepos_conf(profile.name, "http://srv/binhost/x"))) == 4
