"""The pure decision: three versions + policy -> action and reason."""

from __future__ import annotations

import pytest

from provision.etcmerge.decide import (
    Action,
    Merged,
    Versions,
    decide,
    policy_for,
    without_keywords,
    without_ws_comments,
)
from provision.profiles.model import MergeAction, MergePolicy, MergeRule

P = "/etc/app/app.conf"
V1 = "# app\nport = 1\nworkers = 2\n"
V2 = "# app\nport = 1\nworkers = 4\n"
ADMIN = "# app\nport = 9\nworkers = 2\n"
DEFAULT = MergePolicy()
ASK_APP = MergePolicy(rules=(MergeRule("/etc/app/*", MergeAction.ASK),))


@pytest.mark.parametrize(
    ("base", "current", "new", "policy", "action", "code"),
    [
        pytest.param(V1, V1, V2, DEFAULT, Action.TAKE_NEW, "untouched", id="untouched-take-new"),
        pytest.param(V1, ADMIN, V1, DEFAULT, Action.KEEP, "package-unchanged", id="keep-admin"),
        pytest.param(V1, ADMIN, V2, DEFAULT, Action.MERGE, "both-changed", id="needs-merge"),
        pytest.param(V1, V2, V2, DEFAULT, Action.KEEP, "identical", id="identical"),
        pytest.param(
            V1,
            ADMIN,
            "# app, version 2\nport = 1\nworkers = 2\n\n",
            DEFAULT,
            Action.KEEP,
            "package-comments-only",
            id="package-comment-only",
        ),
        pytest.param(
            V1,
            "# mine\nport  =  1\nworkers = 2   \n",
            "# app 2\n\nport = 1\nworkers = 2\n",
            DEFAULT,
            Action.KEEP,
            "comments-only",
            id="both-comment-only",
        ),
        pytest.param(
            None,
            "# mine\nport = 1\n",
            "# theirs\nport = 1\n",
            DEFAULT,
            Action.KEEP,
            "comments-only",
            id="comment-only-no-baseline",
        ),
        pytest.param(
            V1,
            ADMIN,
            "# new comment\nport = 1\nworkers = 2\n",
            MergePolicy(ignore_whitespace_comments=False),
            Action.MERGE,
            "both-changed",
            id="comments-count-when-not-ignored",
        ),
        pytest.param(
            "# $Header: /cvs/app.conf,v 1.1 $\nport = 1\n",
            "# $Header: /cvs/app.conf,v 1.1 $\nport = 9\n",
            "# $Header: /cvs/app.conf,v 1.2 $\nport = 1\n",
            MergePolicy(ignore_whitespace_comments=False),
            Action.KEEP,
            "package-unchanged",
            id="header-only-package-change",
        ),
        pytest.param(
            None,
            "# $Id: app.conf 1 $\nport = 1\n",
            "# $Id: app.conf 2 $\nport = 1\n",
            DEFAULT,
            Action.TAKE_NEW,
            "header-only",
            id="header-only-difference",
        ),
        pytest.param(None, ADMIN, V2, DEFAULT, Action.ASK, "no-baseline", id="no-baseline"),
        pytest.param(V1, None, V1, DEFAULT, Action.KEEP, "deleted-unchanged", id="deleted-kept"),
        pytest.param(V1, None, V2, DEFAULT, Action.ASK, "deleted", id="deleted-changed"),
        pytest.param(
            V1,
            ADMIN,
            V2,
            MergePolicy(frozen=("/etc/app/*",)),
            Action.KEEP,
            "frozen",
            id="frozen",
        ),
        pytest.param(
            V1,
            V1,
            V2,
            MergePolicy(frozen=(P,)),
            Action.KEEP,
            "frozen",
            id="frozen-even-untouched",
        ),
        pytest.param(
            V1,
            ADMIN,
            V2,
            MergePolicy(default=MergeAction.TAKE_NEW),
            Action.TAKE_NEW,
            "policy-take-new",
            id="policy-take-new",
        ),
        pytest.param(
            V1,
            V1,
            V2,
            MergePolicy(rules=(MergeRule("/etc/app/*", MergeAction.KEEP),)),
            Action.KEEP,
            "policy-keep",
            id="rule-keep",
        ),
        pytest.param(V1, V1, V2, ASK_APP, Action.ASK, "policy-ask", id="ask-rule-untouched"),
        pytest.param(V1, ADMIN, V1, ASK_APP, Action.KEEP, "package-unchanged", id="ask-no-change"),
    ],
)
def test_decide(
    base: str | None,
    current: str | None,
    new: str,
    policy: MergePolicy,
    action: Action,
    code: str,
) -> None:
    d = decide(P, Versions(base, current, new), policy)
    assert (d.action, d.code) == (action, code)
    assert d.reason
    assert d.needs_merge == (code == "both-changed")


def test_clean_merge_applies_and_conflict_asks() -> None:
    v = Versions(V1, ADMIN, V2)
    clean = decide(P, v, DEFAULT, Merged("# app\nport = 9\nworkers = 4\n", 0))
    assert (clean.action, clean.code, clean.needs_merge) == (Action.MERGE, "merged", False)
    conflict = decide(P, v, DEFAULT, Merged("<<<<<<< a\nx\n=======\ny\n>>>>>>> b\n", 1))
    assert (conflict.action, conflict.code) == (Action.ASK, "conflict")
    assert "1 conflict" in conflict.reason and conflict.merged is not None
    asked = decide(P, v, ASK_APP, Merged("# app\nport = 9\nworkers = 4\n", 0))
    assert (asked.action, asked.code, asked.via) == (Action.ASK, "policy-ask", "rule /etc/app/*")


def test_last_matching_rule_wins_and_frozen_first() -> None:
    policy = MergePolicy(
        frozen=("/etc/fstab",),
        rules=(
            MergeRule("/etc/*", MergeAction.KEEP),
            MergeRule("/etc/ssh/*", MergeAction.ASK),
        ),
    )
    assert policy_for("/etc/ssh/sshd_config", policy) == ("rule /etc/ssh/*", MergeAction.ASK)
    assert policy_for("/etc/hosts", policy) == ("rule /etc/*", MergeAction.KEEP)
    assert policy_for("/etc/fstab", policy) == ("frozen /etc/fstab", None)
    assert policy_for("/usr/x", policy) == ("default", MergeAction.MERGE)


def test_normalisers() -> None:
    assert without_keywords("# $Header: /var/cvsroot/x,v 1.3 2004 $\n") == "# $Header$\n"
    assert without_ws_comments("  a   b  \n# c\n\n  # d\ne\tf\n") == " a b\ne f"
    # presence of indentation still counts (YAML, Python)
    assert without_ws_comments("a:\n  b: 1\n") != without_ws_comments("a:\nb: 1\n")
