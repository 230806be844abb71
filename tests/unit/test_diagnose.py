from __future__ import annotations

from pathlib import Path

import pytest

from provision.portage.diagnose import KeywordChange, Problem, diagnose

FIXTURES = Path(__file__).parent / "fixtures" / "emerge"


def captured(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def test_keywords_from_autounmask() -> None:
    d = diagnose(captured("keyword-masked"))
    assert d is not None and d.problem is Problem.KEYWORDS
    assert d.atoms == ("=dev-libs/nss-3.46",)
    change = d.keyword_changes[0]
    assert change.line == "=dev-libs/nss-3.46 ~amd64"
    assert change.branch_line == "=dev-libs/nss-3* ~amd64"
    assert change.required_by == (
        "www-client/firefox-1.0::provision-demo",
        "www-client/firefox (argument)",
    )
    report = d.report()
    assert "  =dev-libs/nss-3.46 ~amd64" in report
    assert "(or the whole branch: =dev-libs/nss-3* ~amd64)" in report


def test_keywords_without_autounmask() -> None:
    d = diagnose(captured("keyword-masked-no-autounmask"))
    assert d is not None and d.problem is Problem.KEYWORDS
    assert d.keyword_changes == (KeywordChange("=dev-libs/nss-3.46", ("~amd64",)),)
    assert d.summary.startswith("keyword-masked (unstable) versions needed for >=dev-libs/nss-3.46")


def test_cycle() -> None:
    d = diagnose(captured("cycle"))
    assert d is not None and d.problem is Problem.CYCLE
    assert d.cycle == ("dev-libs/cyc-b-1.0", "dev-libs/cyc-a-1.0")
    assert (
        d.summary
        == "circular dependencies: dev-libs/cyc-b-1.0 -> dev-libs/cyc-a-1.0 -> dev-libs/cyc-b-1.0"
    )
    assert d.cycle_breaks[0].cpv == "dev-libs/cyc-b-1.0"
    assert d.cycle_breaks[0].use == ("-extras",)
    assert 'atom = "=dev-libs/cyc-b-1.0"\n  use = ["-extras"]' in d.report()


def test_not_found() -> None:
    d = diagnose(captured("no-ebuilds"))
    assert d is not None and d.problem is Problem.NOT_FOUND
    assert d.summary == "no ebuild satisfies app-misc/nonexistent (maybe app-misc/greeter)"


@pytest.mark.parametrize(
    ("atom", "branch"),
    [
        pytest.param("=dev-libs/nss-3.46", "=dev-libs/nss-3*", id="minor"),
        pytest.param("=www-client/firefox-128.0.3-r1", "=www-client/firefox-128*", id="revision"),
        pytest.param("=sys-libs/glibc-2.40_p1", "=sys-libs/glibc-2*", id="patch"),
    ],
)
def test_branch_line(atom: str, branch: str) -> None:
    assert KeywordChange(atom, ("~amd64",)).branch_line == f"{branch} ~amd64"


def test_nothing_to_say() -> None:
    assert diagnose(">>> Emerging (1 of 1) app-misc/hello-1.0\n") is None
