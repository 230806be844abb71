"""The typed names (provision.names): examples, and properties over any input (hypothesis)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from provision.errors import ConfigError
from provision.names import (
    EMAIL_MAX,
    HOSTNAME_MAX,
    MAC_PATTERN,
    ORDER_ID_MAX,
    PROFILE_NAME_MAX,
    PROFILE_PATTERN,
    SNAPSHOT_ID_MAX,
    SNAPSHOT_PATTERN,
    EmailAddress,
    HostName,
    Mac,
    OrderId,
    ProfileName,
    SnapshotId,
)

NAMES: list[tuple[Any, int]] = [
    (ProfileName, PROFILE_NAME_MAX),
    (HostName, HOSTNAME_MAX),
    (Mac, 17),
    (SnapshotId, SNAPSHOT_ID_MAX),
    (EmailAddress, EMAIL_MAX),
]
# What no name may hold: separators, line breaks, NUL, blanks (an e-mail's local part aside).
FORBIDDEN = re.compile(r"[/\\\x00-\x20\x7f\x85\u2028\u2029,;<>]")
ANY = st.one_of(st.text(max_size=300), st.binary(max_size=20), st.integers(), st.none(),
                st.floats(), st.lists(st.text(max_size=3), max_size=2))  # fmt: skip


@pytest.mark.parametrize(
    ("make", "good", "canonical"),
    [
        (ProfileName, "server-amd64", "server-amd64"),
        (ProfileName, "a.b_c+d", "a.b_c+d"),
        (HostName, "web1.example.org", "web1.example.org"),
        (Mac, "52-54-00-AA-BB-01", "52:54:00:aa:bb:01"),
        (Mac, "525400aabb01", "52:54:00:aa:bb:01"),
        (SnapshotId, "20240102T000000Z-s2", "20240102T000000Z-s2"),
        (EmailAddress, "first.last+tag@mail.example.org", "first.last+tag@mail.example.org"),
        (EmailAddress, "root@localhost", "root@localhost"),
    ],
)
def test_good_names(make: Any, good: str, canonical: str) -> None:
    assert make(good) == canonical and isinstance(make(good), str)


@pytest.mark.parametrize(
    ("make", "bad"),
    [
        (ProfileName, "../etc/passwd"),
        (ProfileName, "/etc/passwd"),
        (ProfileName, ".hidden"),
        (ProfileName, "name\n"),
        (ProfileName, "a" * 65),
        (ProfileName, ""),
        (HostName, "evil\n"),
        (HostName, "Web1"),
        (HostName, "-a"),
        (HostName, "a" * 64),
        (Mac, "52:54:00:aa:bb:01\n"),
        (Mac, " 52:54:00:aa:bb:01"),
        (Mac, "52:54:00:aa:bb"),
        (SnapshotId, ".."),
        (SnapshotId, "a/b"),
        (EmailAddress, "victim,attacker@evil.org"),
        (EmailAddress, "a@b.org\n"),
        (EmailAddress, "Name <a@b.org>"),
        (EmailAddress, "a@b"),
        (EmailAddress, "a" * 65 + "@example.org"),
    ],
)
def test_bad_names(make: Any, bad: str) -> None:
    with pytest.raises(ConfigError):
        make(bad)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), ("42", True), (ORDER_ID_MAX, True), (0, False), (-1, False), ("1e3", False),
     (ORDER_ID_MAX + 1, False), ("9" * 30, False), (True, False), (1.0, False), ("²", False)],
)  # fmt: skip
def test_order_ids(value: Any, ok: bool) -> None:
    if ok:
        assert OrderId(value) == int(value)
    else:
        with pytest.raises(ConfigError):
            OrderId(value)


@pytest.mark.parametrize(("make", "limit"), NAMES)
@settings(max_examples=300, deadline=None)
@given(value=ANY)
def test_any_input_is_a_name_or_a_config_error(make: Any, limit: int, value: Any) -> None:
    """Never another exception; a name that is accepted is short, one token, canonical."""
    try:
        name = make(value)
    except ConfigError:
        return
    assert isinstance(name, str) and 0 < len(name) <= limit
    assert not re.search(r"[\x00-\x20\x7f\x85\u2028\u2029,;<>\\]", name)  # one token
    domain_or_name = name.split("@", 1)[1] if make is EmailAddress else name
    assert not FORBIDDEN.search(domain_or_name)  # no path separator either
    assert make(name) == name  # canonical: building it again changes nothing


@settings(max_examples=200, deadline=None)
@given(value=st.from_regex(rf"\A{MAC_PATTERN}\Z"))
def test_every_mac_spelling_is_accepted(value: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", Mac(value))


@settings(max_examples=200, deadline=None)
@given(
    value=st.from_regex(rf"\A{PROFILE_PATTERN}\Z"), sid=st.from_regex(rf"\A{SNAPSHOT_PATTERN}\Z")
)
def test_the_patterns_the_urls_use_are_the_names(value: str, sid: str) -> None:
    """The URL converters match with these patterns: every match is a valid name."""
    assert ProfileName(value) == value
    assert SnapshotId(sid) == sid


@settings(max_examples=300, deadline=None)
@given(value=ANY)
@example(value=0)
@example(value=-1)
@example(value=ORDER_ID_MAX + 1)
@example(value="1e3")
@example(value=True)
def test_order_id_any_input(value: Any) -> None:
    """Any input is an order number in range or one ConfigError, never anything else."""
    try:
        number = OrderId(value)
    except ConfigError:
        return
    assert isinstance(number, int) and 1 <= number <= ORDER_ID_MAX
    assert number == int(value)  # what was given, not another number


@pytest.mark.parametrize("value", [0, -1, ORDER_ID_MAX + 1, "1e3", True, None, 1.5, "", " 7", "-3"])
def test_order_id_out_of_range_or_not_a_whole_number_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError, match="order"):
        OrderId(value)


@pytest.mark.parametrize("value", [1, ORDER_ID_MAX, "42"])
def test_order_id_in_range_is_taken(value: int | str) -> None:
    assert OrderId(value) == int(value)


@pytest.mark.parametrize(
    "argv",
    [["rollback", "../x"], ["iso", "p", "-o", "x.iso", "--host", "not-a-mac"],
     ["profiles", "show", "/etc/passwd"], ["iso", "p", "-o", "x", "--hostname", "evil\n"]],
)  # fmt: skip
def test_the_cli_takes_names_through_the_constructors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from provision.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("provision: error: ") and "is not a" in err and err.count("\n") == 1
