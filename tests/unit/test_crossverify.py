from __future__ import annotations

from provision.crossverify import Comparison, Package, Verdict, compare, latest, render_report
from provision.snapshots.verify import parse_packages

STATE = {"USE": "ipv6", "CFLAGS": "-O2", "CHOST": "x86_64-pc-linux-gnu"}


def test_agree() -> None:
    a = Package("app-misc/hello-1.0", STATE, {"/usr/bin/hello": "aa"})
    assert compare(a, a).verdict is Verdict.AGREE


def test_content_differs() -> None:
    a = Package("app-misc/hello-1.0", STATE, {"/usr/bin/hello": "aa", "/etc/x": "1"})
    b = Package("app-misc/hello-1.0", STATE, {"/usr/bin/hello": "bb", "/usr/share/y": "2"})
    r = compare(a, b)
    assert r.verdict is Verdict.DIFFER
    assert r.details == (
        "/etc/x: missing there",
        "/usr/bin/hello: content differs",
        "/usr/share/y: missing here",
    )


def test_state_differs_is_not_compared() -> None:
    a = Package("app-misc/hello-1.0", STATE, {"/usr/bin/hello": "aa"})
    b = Package("app-misc/hello-1.0", {**STATE, "CFLAGS": "-O3"}, {"/usr/bin/hello": "bb"})
    r = compare(a, b)
    assert r.verdict is Verdict.STATE_DIFFERS
    assert r.details == ("CFLAGS: '-O2' here, '-O3' there",)


def test_latest_instance_wins() -> None:
    index = parse_packages(
        "VERSION: 0\n\nCPV: a/b-1\nBUILD_ID: 1\nPATH: a/b/b-1-1.gpkg.tar\n\n"
        "CPV: a/b-1\nBUILD_ID: 3\nPATH: a/b/b-1-3.gpkg.tar\n\n"
        "CPV: c/d-2\nPATH: c/d/d-2-1.gpkg.tar\n"
    )
    found = latest(index)
    assert found["a/b-1"]["BUILD_ID"] == "3" and set(found) == {"a/b-1", "c/d-2"}


def test_report() -> None:
    text = render_report(
        [
            Comparison("a/b-1", Verdict.AGREE),
            Comparison("c/d-2", Verdict.DIFFER, ("/x: content differs",)),
        ]
    )
    assert text.splitlines() == [
        "agree                a/b-1",
        "differ               c/d-2",
        "    /x: content differs",
        "1 agree, 1 differ",
    ]
