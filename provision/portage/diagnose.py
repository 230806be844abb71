"""Read emerge's output after a failed dependency calculation and say what the admin can do.

Pure functions over text captured from real Portage (tests/unit/fixtures/emerge/).  The builder
runs emerge with --autounmask=y --autounmask-write=n, so Portage itself names the keyword
changes it needs; the report quotes them, plus the branch-wide alternative the seeds discuss
(unmasking all of nss-3.* instead of one version that the next tree update replaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Problem(StrEnum):
    CYCLE = "cycle"
    KEYWORDS = "keywords"
    MASKED = "masked"
    NOT_FOUND = "not-found"


@dataclass(frozen=True)
class KeywordChange:
    atom: str  # =dev-libs/nss-3.46
    keywords: tuple[str, ...]  # ~amd64
    required_by: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        return f"{self.atom} {' '.join(self.keywords)}"

    @property
    def branch_line(self) -> str:
        """The whole version branch: =dev-libs/nss-3* ~amd64 (survives the next minor bump)."""
        m = re.match(r"^=(?P<pkg>.+?)-(?P<major>\d+)(\.[0-9.]+)?[a-z]?(_\w+)?(-r\d+)?$", self.atom)
        if not m:
            return self.line
        return f"={m.group('pkg')}-{m.group('major')}* {' '.join(self.keywords)}"


@dataclass(frozen=True)
class CycleChange:
    cpv: str  # dev-libs/cyc-b-1.0
    use: tuple[str, ...]  # -extras


@dataclass(frozen=True)
class Diagnosis:
    problem: Problem
    summary: str  # one line
    atoms: tuple[str, ...] = ()
    keyword_changes: tuple[KeywordChange, ...] = ()
    cycle: tuple[str, ...] = ()  # cpvs in the cycle
    cycle_breaks: tuple[CycleChange, ...] = field(default_factory=tuple)

    def report(self) -> str:
        """A few lines for the log, the status page and the CLI."""
        lines = [self.summary]
        if self.problem is Problem.KEYWORDS:
            lines.append(
                "Add to the profile's [portage.accept_keywords] (or package.accept_keywords):"
            )
            for change in self.keyword_changes:
                lines.append(f"  {change.line}")
                if change.branch_line != change.line:
                    lines.append(f"  (or the whole branch: {change.branch_line})")
        elif self.problem is Problem.CYCLE and self.cycle_breaks:
            lines.append("Break it with a bootstrap step in the profile, e.g.:")
            for brk in self.cycle_breaks:
                atom = "=" + brk.cpv
                use = ", ".join(f'"{u}"' for u in brk.use)
                lines.append(f'  [[bootstrap]]\n  atom = "{atom}"\n  use = [{use}]')
        return "\n".join(lines)


_CPV_IN_PAREN = re.compile(r"^\s*\((?P<cpv>[^:\s]+?)(?::[^:\s]*)?(?:::\S+)?, [^)]*\)")
_CYCLE_CHANGE = re.compile(r"^- (?P<cpv>\S+) \(Change USE: (?P<use>[^)]*)\)", re.M)
_KW_HEADER = "The following keyword changes are necessary to proceed:"
_MASKED_LINE = re.compile(r"^- (?P<cpv>\S+?)(?:::\S+)? \(masked by: (?P<why>[^)]*)\)", re.M)
_NO_EBUILDS = re.compile(r'^emerge: there are no ebuilds to satisfy "(?P<atom>[^"]+)"', re.M)
_ALL_MASKED = re.compile(
    r'^!!! All ebuilds that could satisfy "(?P<atom>[^"]+)" have been masked', re.M
)


def diagnose(output: str) -> Diagnosis | None:
    """The first problem emerge reports in `output`, or None when it names none of these."""
    for parse in (_keywords, _cycle, _masked, _not_found):
        found = parse(output)
        if found is not None:
            return found
    return None


def _keywords(text: str) -> Diagnosis | None:
    if _KW_HEADER not in text:
        return None
    block = text.split(_KW_HEADER, 1)[1]
    changes: list[KeywordChange] = []
    required: list[str] = []
    for raw in block.splitlines()[1:]:
        line = raw.strip()
        if line.startswith("# required by "):
            required.append(line.removeprefix("# required by ").strip())
        elif line and not line.startswith(("(", "#")) and re.match(r"^[<>=~]*[\w+-]+/\S+\s", line):
            atom, *kws = line.split()
            changes.append(KeywordChange(atom, tuple(kws), tuple(required)))
            required = []
        elif (not line and changes) or (line and not line.startswith(("(", "#"))):
            break  # the block ends at a blank line after the changes, or at other text
    if not changes:
        return None
    names = ", ".join(c.atom for c in changes)
    return Diagnosis(
        Problem.KEYWORDS,
        f"keyword-masked (unstable) versions needed: {names}",
        atoms=tuple(c.atom for c in changes),
        keyword_changes=tuple(changes),
    )


def _cycle(text: str) -> Diagnosis | None:
    if "Error: circular dependencies:" not in text:
        return None
    block = text.split("Error: circular dependencies:", 1)[1]
    cpvs: list[str] = []
    for line in block.splitlines():
        m = _CPV_IN_PAREN.match(line)
        if m and m.group("cpv") not in cpvs:
            cpvs.append(m.group("cpv"))
        if line.startswith("It might be possible"):
            break
    breaks = tuple(
        CycleChange(m.group("cpv"), tuple(m.group("use").split()))
        for m in _CYCLE_CHANGE.finditer(block)
    )
    return Diagnosis(
        Problem.CYCLE,
        f"circular dependencies: {' -> '.join([*cpvs, cpvs[0]] if cpvs else [])}",
        atoms=tuple(cpvs),
        cycle=tuple(cpvs),
        cycle_breaks=breaks,
    )


def _masked(text: str) -> Diagnosis | None:
    m = _ALL_MASKED.search(text)
    if not m:
        return None
    masked = [(x.group("cpv"), x.group("why")) for x in _MASKED_LINE.finditer(text)]
    changes = tuple(
        KeywordChange(f"={cpv}", tuple(w.strip() for w in why.replace(" keyword", "").split(",")))
        for cpv, why in masked
        if why.strip().endswith("keyword")
    )
    if changes and len(changes) == len(masked):
        return Diagnosis(
            Problem.KEYWORDS,
            f"keyword-masked (unstable) versions needed for {m.group('atom')}: "
            + ", ".join(c.atom for c in changes),
            atoms=tuple(c.atom for c in changes),
            keyword_changes=changes,
        )
    detail = "; ".join(f"{cpv} ({why})" for cpv, why in masked)
    return Diagnosis(
        Problem.MASKED,
        f"all versions of {m.group('atom')} are masked: {detail}",
        atoms=(m.group("atom"),),
    )


def _not_found(text: str) -> Diagnosis | None:
    m = _NO_EBUILDS.search(text)
    if not m:
        return None
    hint = re.search(r"^emerge: Maybe you meant (?P<x>.+?)\?", text, re.M)
    extra = f" (maybe {hint.group('x')})" if hint else ""
    return Diagnosis(
        Problem.NOT_FOUND, f"no ebuild satisfies {m.group('atom')}{extra}", atoms=(m.group("atom"),)
    )
