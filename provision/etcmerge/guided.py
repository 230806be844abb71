"""Guided mode: one screen per file that needs a person, with the diff (or the merge and its
conflicts), why it needs a decision, and the answers take / keep / merge / edit / skip."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.etcmerge.apply import Applied
from provision.etcmerge.decide import Action, Decision, Merged
from provision.etcmerge.merge import has_markers, unified
from provision.etcmerge.plan import Item
from provision.etcmerge.record import encode, read_text
from provision.run import run

YOU = "you (guided)"


@dataclass(frozen=True)
class Terminal:
    ask: Callable[[str], str]  # show a prompt, return the answer line (EOFError at the end)
    say: Callable[[str], None]
    edit: Callable[[Path], None]  # let the admin edit a file in place


def console() -> Terminal:
    return Terminal(ask=input, say=lambda s: print(s, flush=True), edit=run_editor)


def run_editor(path: Path) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    run([*shlex.split(editor), str(path)], interactive=True, timeout=None)


def can_merge(item: Item) -> bool:
    m = item.decision.merged
    return m is not None and m.conflicts == 0


def options(item: Item) -> str:
    parts = ["[t]ake new", "[k]eep yours"]
    if can_merge(item):
        parts.append("[m]erge")
    parts += ["[e]dit", "[s]kip", "[q]uit"]
    return "  ".join(parts)


def screen(item: Item, index: int, total: int) -> str:
    """Pure: what the admin sees for one file."""
    d, v, path = item.decision, item.versions, item.tpath
    lines = [
        f"==> {path}  [{index}/{total}]",
        f"why: {d.reason}",
        f"policy: {d.via}; update: {item.pending.newest}",
    ]
    if d.merged is not None and d.merged.conflicts:
        lines.append(f"--- three-way merge, {d.merged.conflicts} conflict(s) marked ---")
        lines.append(d.merged.text.rstrip("\n"))
    else:
        diff = unified(v.current, v.new, f"{path} (yours)", f"{path} (new)")
        lines.append("--- your version -> the new version ---")
        lines.append(diff.rstrip("\n") or "(no difference)")
        if d.merged is not None:
            lines.append("--- the merge keeps your changes and adds the package's ---")
            lines.append(unified(v.current, d.merged.text, "yours", "merged").rstrip("\n"))
    return "\n".join(lines)


def chosen(item: Item, key: str, text: str | None = None) -> Decision | None:
    """Pure: the decision for an answer; None for skip."""
    if key == "t":
        return Decision(Action.TAKE_NEW, "chose-take-new", "you took the new version", YOU)
    if key == "k":
        return Decision(Action.KEEP, "chose-keep", "you kept your version", YOU)
    if key == "m" and can_merge(item):
        return Decision(
            Action.MERGE, "chose-merge", "you took the merge", YOU, item.decision.merged
        )
    if key == "e" and text is not None:
        return Decision(Action.MERGE, "edited", "you edited the result", YOU, Merged(text, 0))
    return None


def edit_start(item: Item) -> str:
    """The text the editor starts from: the merge (with its markers), else yours, else new."""
    v = item.versions
    if item.decision.merged is not None:
        return item.decision.merged.text
    return v.current if v.current is not None else v.new


def guide(
    items: list[Item],
    term: Terminal,
    apply_fn: Callable[[Item, Decision], Applied | None],
) -> dict[str, tuple[Decision, Applied | None]]:
    """Ask about each item; apply each answer at once (quitting keeps what was decided)."""
    outcomes: dict[str, tuple[Decision, Applied | None]] = {}
    for index, item in enumerate(items, 1):
        term.say(screen(item, index, len(items)))
        try:
            decision = _ask_one(item, term)
        except _Quit:
            term.say("quit: the remaining files keep their ._cfg updates")
            break
        if decision is None:
            term.say(f"skipped {item.tpath}: its update stays as {item.pending.newest}")
            continue
        applied = apply_fn(item, decision)
        outcomes[item.tpath] = (decision, applied)
        term.say(f"{item.tpath}: {decision.reason}")
    return outcomes


class _Quit(Exception):
    pass


def _ask_one(item: Item, term: Terminal) -> Decision | None:
    while True:
        try:
            answer = term.ask(f"{options(item)} ? ").strip().lower()[:1]
        except EOFError:
            raise _Quit from None
        if answer == "q":
            raise _Quit
        if answer == "s":
            return None
        if answer == "e":
            text = _edit(item, term)
            if text is not None:
                return chosen(item, "e", text)
            continue
        decision = chosen(item, answer)
        if decision is not None:
            return decision
        term.say(f"please answer one of: {options(item)}")


def _edit(item: Item, term: Terminal) -> str | None:
    name = Path(item.tpath).name
    with tempfile.TemporaryDirectory(prefix="provision-etcmerge-edit-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(encode(edit_start(item)))
        term.edit(path)
        text = read_text(path) or ""
    if has_markers(text):
        term.say("the edited file still has conflict markers (<<<<<<< ======= >>>>>>>); not used")
        return None
    return text
