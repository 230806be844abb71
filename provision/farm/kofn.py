"""k-of-n cross-verification, pure: is a pass publishable, which upload is published, which
workers are flagged.

A package is identified by (cpv, build state digest) and judged by its content digest (the
SHA-256 of its image's files, EPREFIX stripped: provision.crossverify's comparison).  It counts
as verified by every distinct worker that produced the same content for the same build state,
in this pass or an earlier one.  A pass is publishable when one accepted upload has every
package verified `required` times; its files are the ones published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class PackageDigest:
    cpv: str
    state: str  # digest of the build state (USE, SLOT, deps, CHOST, CFLAGS...)
    content: str  # digest of the image's files

    @property
    def key(self) -> tuple[str, str]:
        return (self.cpv, self.state)


@dataclass(frozen=True)
class Upload:
    slot: str
    worker: str
    packages: tuple[PackageDigest, ...]


History = Mapping[tuple[str, str], Mapping[str, set[str]]]  # (cpv, state) -> content -> workers


class Verdict(StrEnum):
    PUBLISH = "publish"
    WAIT = "wait"  # slots still building
    MORE = "more"  # no agreement yet: ask another worker
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    slot: str = ""  # the upload to publish
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # cpv -> agreeing workers
    flagged: dict[str, str] = field(default_factory=dict)  # worker -> why


def agreeing(history: History, p: PackageDigest) -> set[str]:
    return set(history.get(p.key, {}).get(p.content, set()))


def flags(history: History, uploads: Sequence[Upload]) -> dict[str, str]:
    """Workers of this pass whose content for a package is not the one most workers produced
    (all of them on a tie)."""
    out: dict[str, str] = {}
    for up in uploads:
        for p in up.packages:
            contents = history.get(p.key, {})
            if len(contents) < 2:
                continue
            most = max(len(w) for w in contents.values())
            top = [c for c, w in contents.items() if len(w) == most]
            mine = len(contents.get(p.content, ()))
            if p.content not in top or len(top) > 1:
                others = sorted(w for c, ws in contents.items() if c != p.content for w in ws)
                out.setdefault(
                    up.worker,
                    f"{p.cpv}: content differs from {', '.join(others)}"
                    f" ({mine} vs {most} agreeing builds)",
                )
    return out


def decide(
    required: int,
    uploads: Sequence[Upload],
    history: History,
    *,
    building: int,
    can_ask_more: bool,
) -> Decision:
    """uploads: the accepted uploads of this pass, by slot order; history includes them.
    building: slots still queued or leased; can_ask_more: a live worker that has no slot of
    this pass could take another."""
    flagged = flags(history, uploads)
    for up in uploads:
        counts = {p.cpv: len(agreeing(history, p)) for p in up.packages}
        if all(n >= required for n in counts.values()):
            return Decision(Verdict.PUBLISH, up.slot, "", counts, flagged)
    if building:
        return Decision(Verdict.WAIT, flagged=flagged)
    if can_ask_more:
        return Decision(Verdict.MORE, flagged=flagged)
    if not uploads:
        return Decision(Verdict.FAIL, reason="no worker delivered a build", flagged=flagged)
    # the package furthest from agreement: its most agreed-on content, and who built another
    best: dict[tuple[str, str], tuple[int, str, set[str]]] = {}
    for up in uploads:
        for p in up.packages:
            workers = agreeing(history, p)
            if p.key not in best or len(workers) > best[p.key][0]:
                best[p.key] = (len(workers), p.cpv, workers)
    have, cpv, workers = min(best.values(), key=lambda b: (b[0], b[1]))
    others = sorted({u.worker for u in uploads} - workers)
    differ = f"; {', '.join(others)} built something else" if others else ""
    return Decision(
        Verdict.FAIL,
        reason=(
            f"k-of-n: {cpv} has {have} agreeing build{'s' if have != 1 else ''} of the "
            f"{required} required{differ}"
        ),
        counts={b[1]: b[0] for b in best.values()},
        flagged=flagged,
    )
