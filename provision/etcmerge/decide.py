"""The pure decision: three versions of a protected file + the policy -> what to do and why.

base    the version the package shipped last time (recorded by provision), or None
current what is on disk now (None: the admin removed it)
new     what the update ships (the newest ._cfgNNNN_ file)

Policy (MergePolicy from the profile's [etc_merge]): `frozen` globs are never touched; the last
matching rule (or `default`) gives the action for a path:
  take-new  always install the package's version (the admin's is archived)
  keep      always keep the admin's version
  merge     the automatic rules: untouched -> new; unchanged by the package -> keep;
            both changed -> three-way merge, applied when clean, asked when it conflicts
  ask       like merge, but a person decides whenever the file on disk would change
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from provision.profiles.model import MergeAction, MergePolicy


class Action(StrEnum):
    TAKE_NEW = "take-new"  # install the new version (archive the current one)
    KEEP = "keep"  # keep the file on disk, drop the ._cfg
    MERGE = "merge"  # write the merged text (archive the current one)
    ASK = "ask"  # a person decides; non-interactive leaves the ._cfg and reports it


@dataclass(frozen=True)
class Versions:
    base: str | None
    current: str | None
    new: str


@dataclass(frozen=True)
class Merged:
    """Result of a three-way merge: the text (with conflict markers if any)."""

    text: str
    conflicts: int


@dataclass(frozen=True)
class Decision:
    action: Action
    code: str  # machine-readable reason, e.g. "untouched", "conflict"
    reason: str  # one sentence for the admin: why this was done / needs a decision
    via: str = "default"  # what in the policy decided: "frozen /etc/fstab", "rule /etc/ssh/*"
    merged: Merged | None = None  # for MERGE (clean) and for conflicts (with markers)

    @property
    def needs_merge(self) -> bool:
        """Both sides changed and no merge was given yet: run a three-way merge, decide again."""
        return self.action is Action.MERGE and self.merged is None


def policy_for(path: str, policy: MergePolicy) -> tuple[str, MergeAction | None]:
    """Which policy entry governs path: ("frozen GLOB", None) | ("rule GLOB", action) |
    ("default", policy.default).  The last matching rule wins (a child profile's rules come
    after its parent's)."""
    for glob in policy.frozen:
        if fnmatchcase(path, glob):
            return f"frozen {glob}", None
    for rule in reversed(policy.rules):
        if fnmatchcase(path, rule.path):
            return f"rule {rule.path}", rule.action
    return "default", policy.default


_KEYWORD = re.compile(r"\$(Header|Id)(:[^$\n]*)?\$")


def without_keywords(text: str) -> str:
    """CVS keyword lines ($Header: ...$, $Id: ...$) reduced to their name: they change with
    every release and mean nothing."""
    return _KEYWORD.sub(r"$\1$", text)


def without_ws_comments(text: str) -> str:
    """Only the meaningful content: no blank lines, no full-line '#' comments, runs of
    whitespace as one space and none at line ends (as dispatch-conf's replace-wscomments)."""
    out = []
    for line in without_keywords(text).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = " " if line[:1].isspace() else ""
        out.append(lead + " ".join(stripped.split()))
    return "\n".join(out)


def decide(path: str, v: Versions, policy: MergePolicy, merged: Merged | None = None) -> Decision:
    """What to do with one pending update of `path`.  Pure.

    Returns Action.MERGE with merged=None (`needs_merge`) when both sides changed it; the caller
    runs the three-way merge and calls again with `merged`.
    """
    via, rule = policy_for(path, policy)
    if rule is None:
        return Decision(Action.KEEP, "frozen", "the policy freezes this file; kept as it is", via)
    if v.current is None:
        return _deleted(v, rule, via)
    if v.current == v.new:
        return Decision(Action.KEEP, "identical", "the new version is identical to yours", via)
    if rule is MergeAction.TAKE_NEW:
        return Decision(
            Action.TAKE_NEW, "policy-take-new", "the policy installs the new version here", via
        )
    if rule is MergeAction.KEEP:
        return Decision(Action.KEEP, "policy-keep", "the policy keeps your version here", via)
    ask = rule is MergeAction.ASK
    ws = policy.ignore_whitespace_comments
    cur, new = without_keywords(v.current), without_keywords(v.new)
    if cur == new:
        return _unless_ask(
            ask,
            Decision(Action.TAKE_NEW, "header-only", "only $Header/$Id lines differ", via),
        )
    if ws and without_ws_comments(v.current) == without_ws_comments(v.new):
        return Decision(
            Action.KEEP,
            "comments-only",
            "yours and the new version differ only in comments or whitespace; yours is kept",
            via,
        )
    if v.base is None:
        return Decision(
            Action.ASK,
            "no-baseline",
            "there is no record of the version shipped before, so your changes cannot be told "
            "apart from the package's",
            via,
        )
    base = without_keywords(v.base)
    if cur == base:
        return _unless_ask(
            ask,
            Decision(
                Action.TAKE_NEW,
                "untouched",
                "you never changed this file and the package ships a new version",
                via,
            ),
        )
    if new == base:
        return Decision(
            Action.KEEP, "package-unchanged", "you changed it; the package did not", via
        )
    if ws and without_ws_comments(v.new) == without_ws_comments(v.base):
        return Decision(
            Action.KEEP,
            "package-comments-only",
            "you changed it; the package changed only comments or whitespace",
            via,
        )
    if merged is None:
        return Decision(Action.MERGE, "both-changed", "both you and the package changed it", via)
    if merged.conflicts:
        n = merged.conflicts
        return Decision(
            Action.ASK,
            "conflict",
            f"both you and the package changed it and the three-way merge has {n} "
            f"conflict{'s' if n != 1 else ''}",
            via,
            merged,
        )
    clean = Decision(
        Action.MERGE,
        "merged",
        "both you and the package changed it; the three-way merge is clean",
        via,
        merged,
    )
    return _unless_ask(ask, clean)


def _unless_ask(ask: bool, d: Decision) -> Decision:
    """Under an `ask` rule a change to the file on disk needs a person."""
    if not ask:
        return d
    return Decision(
        Action.ASK,
        "policy-ask",
        f"{d.reason}, and the policy asks before changing this file",
        d.via,
        d.merged,
    )


def _deleted(v: Versions, rule: MergeAction, via: str) -> Decision:
    if v.base is not None and without_keywords(v.new) == without_keywords(v.base):
        return Decision(
            Action.KEEP, "deleted-unchanged", "you removed it; the package did not change it", via
        )
    if rule is MergeAction.TAKE_NEW:
        return Decision(
            Action.TAKE_NEW, "policy-take-new", "the policy installs the new version here", via
        )
    if rule is MergeAction.KEEP:
        return Decision(Action.KEEP, "policy-keep", "you removed it; the policy keeps it so", via)
    return Decision(
        Action.ASK, "deleted", "you removed this file and the package ships a new version", via
    )
