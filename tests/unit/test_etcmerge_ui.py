"""Guided mode with a scripted terminal, the appliers, the report and policy loading."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.etcmerge.apply import Applied, apply
from provision.etcmerge.decide import Action, Decision, Merged, Versions, decide
from provision.etcmerge.guided import Terminal, guide, screen
from provision.etcmerge.plan import Item
from provision.etcmerge.policy import load_policy, policy_for_target
from provision.etcmerge.record import read_shipped
from provision.etcmerge.report import build_report
from provision.etcmerge.scan import Pending
from provision.etcmerge.session import apply_safe
from provision.etcmerge.target import Target
from provision.profiles.model import MergeAction, MergePolicy

BASE, MINE, NEW = "a = 1\nb = 1\n", "a = 2\nb = 1\n", "a = 3\nb = 1\n"
CONFLICT = "<<<<<<< yours\na = 2\n||||||| shipped\na = 1\n=======\na = 3\n>>>>>>> new\nb = 1\n"


def _item(t: Target, name: str, v: Versions, merged: Merged | None = None) -> Item:
    tpath = f"/etc/app/{name}"
    t.host(tpath).parent.mkdir(parents=True, exist_ok=True)
    if v.current is not None:
        t.host(tpath).write_text(v.current)
    cfg = f"/etc/app/._cfg0000_{name}"
    t.host(cfg).write_text(v.new)
    d = decide(tpath, v, MergePolicy(), merged)
    return Item(Pending(tpath, (cfg,)), v, d)


class Script:
    """A terminal that answers from a list and records what was shown."""

    def __init__(self, answers: list[str], edit: Callable[[Path], object] | None = None) -> None:
        self.answers = answers
        self.shown: list[str] = []
        self._edit = edit

    def ask(self, prompt: str) -> str:
        self.shown.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def term(self) -> Terminal:
        def edit(path: Path) -> None:
            assert self._edit is not None
            self._edit(path)

        return Terminal(self.ask, self.shown.append, edit)


def _apply(t: Target) -> Callable[[Item, Decision], Applied | None]:
    return lambda item, d: apply(t, item, d)


def test_conflict_screen_explains_and_edit_resolves(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    item = _item(t, "x.conf", Versions(BASE, MINE, NEW), Merged(CONFLICT, 1))
    assert item.decision.code == "conflict"
    text = screen(item, 1, 1)
    assert "why: both you and the package changed it" in text and "1 conflict" in text
    assert "<<<<<<< yours" in text

    edits = iter(["<<<<<<< yours\na = 2\n", "a = 4\nb = 1\n"])
    script = Script(["m", "e", "e"], edit=lambda p: p.write_text(next(edits)))
    outcomes = guide([item], script.term(), _apply(t))
    assert any("please answer one of" in s for s in script.shown)  # no [m] on a conflict
    assert any("still has conflict markers" in s for s in script.shown)
    decision, applied = outcomes["/etc/app/x.conf"]
    assert (decision.action, decision.code) == (Action.MERGE, "edited") and applied is not None
    assert t.host("/etc/app/x.conf").read_text() == "a = 4\nb = 1\n"
    assert not t.host("/etc/app/._cfg0000_x.conf").exists()
    assert read_shipped(t, "/etc/app/x.conf") == NEW
    assert applied.archived and Path(applied.archived).read_text() == MINE


@pytest.mark.parametrize(
    ("answer", "expected", "cfg_left"),
    [
        pytest.param("t", "a = 1\nb = 2\n", False, id="take"),
        pytest.param("k", MINE, False, id="keep"),
        pytest.param("m", "a = 2\nb = 2\n", False, id="merge"),
        pytest.param("s", MINE, True, id="skip"),
        pytest.param("q", MINE, True, id="quit"),
    ],
)
def test_guided_answers(tmp_path: Path, answer: str, expected: str, cfg_left: bool) -> None:
    t = Target(tmp_path, "")
    v = Versions(BASE, MINE, "a = 1\nb = 2\n")
    item = _item(t, "y.conf", v, Merged("a = 2\nb = 2\n", 0))
    asked = Item(
        item.pending, v, Decision(Action.ASK, "policy-ask", "asks", "rule", item.decision.merged)
    )
    guide([asked], Script([answer]).term(), _apply(t))
    assert t.host("/etc/app/y.conf").read_text() == expected
    assert t.host("/etc/app/._cfg0000_y.conf").exists() is cfg_left


def test_apply_safe_and_report(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    items = [
        _item(t, "untouched.conf", Versions(BASE, BASE, NEW)),
        _item(t, "mine.conf", Versions(BASE, MINE, BASE)),
        _item(t, "nobase.conf", Versions(None, MINE, NEW)),
    ]
    outcomes = apply_safe(t, items)
    assert t.host("/etc/app/untouched.conf").read_text() == NEW
    assert t.host("/etc/app/mine.conf").read_text() == MINE
    assert t.host("/etc/app/._cfg0000_nobase.conf").exists()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    report = build_report(t, items, outcomes, mode="non-interactive", host="h1", now=now)
    assert report["pending"] == ["/etc/app/nobase.conf"] and report["settled"] == 2
    by_path = {f["path"]: f for f in report["files"]}
    assert by_path["/etc/app/untouched.conf"]["code"] == "untouched"
    assert by_path["/etc/app/untouched.conf"]["archived"].endswith("000001")
    assert by_path["/etc/app/nobase.conf"]["action"] == "ask"
    assert report["time"] == "2026-01-02T03:04:05+00:00" and report["host"] == "h1"
    json.dumps(report)


def test_load_policy_standalone_and_profile(tmp_path: Path, profiles_dir: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(
        'default = "ask"\nfrozen = ["/etc/fstab"]\n[[rules]]\npath = "/etc/x/*"\naction = "keep"\n'
    )
    policy = load_policy(f)
    assert policy.default is MergeAction.ASK and policy.frozen == ("/etc/fstab",)
    assert policy.rules[0].action is MergeAction.KEEP
    f.write_text('[etc_merge]\ndefault = "take-new"\n')
    assert load_policy(f).default is MergeAction.TAKE_NEW
    desktop = load_policy(profiles_dir / "desktop-amd64.toml")
    assert "/etc/fstab" in desktop.frozen
    f.write_text('[[rules]]\npath = "/etc/x/*"\naction = "replace"\n')
    with pytest.raises(ConfigError, match=r"p\.toml: etc_merge\.rules\[0\]\.action: 'replace'"):
        load_policy(f)
    f.write_text('colour = "red"\n')
    with pytest.raises(ConfigError, match=r"p\.toml: colour: unknown key"):
        load_policy(f)


def test_target_policy_file_is_the_default(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    assert policy_for_target(t, None) == (MergePolicy(), "built-in default")
    own = t.host("/etc/provision/etc-merge.toml")
    own.parent.mkdir(parents=True)
    own.write_text('default = "keep"\n')
    policy, source = policy_for_target(t, None)
    assert policy.default is MergeAction.KEEP and source == str(own)
