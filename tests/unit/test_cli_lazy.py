"""The CLI's command table (names and help without importing the commands) stays true."""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

import pytest

from provision.cli import build_parser, unlisted_modules, wanted_command
from provision.commands import COMMANDS


def registered(module: str) -> dict[str, str]:
    """name -> help of what a command module's register() adds."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(f"provision.commands.{module}").register(sub)
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    return helps


def test_every_command_module_is_in_the_table() -> None:
    assert unlisted_modules({c.module for c in COMMANDS.values()}) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_table_says_what_the_module_registers(name: str) -> None:
    command = COMMANDS[name]
    assert registered(command.module) == {name: command.help}


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        pytest.param(["status"], "status", id="plain"),
        pytest.param(["--data-dir", "status", "build", "x"], "build", id="valued-option"),
        pytest.param(["--data-dir=d", "-v", "iso", "p"], "iso", id="inline-value"),
        pytest.param(["--help"], None, id="help"),
        pytest.param(["-v", "--", "status"], None, id="double-dash"),
        pytest.param([], None, id="empty"),
    ],
)
def test_wanted_command(argv: list[str], want: str | None) -> None:
    assert wanted_command(argv) == want


def test_unnamed_commands_parse_only_their_name() -> None:
    parser = build_parser(["status"])
    args = parser.parse_args(["status", "--json"])
    assert args.json is True and args.func.__module__ == "provision.commands.status"
    with pytest.raises(SystemExit):
        parser.parse_args(["build", "--forever"])  # build is only listed, not imported here


HEAVY = ("flask", "werkzeug", "jinja2", "pycdlib", "elftools", "dns", "tftpy", "granian",
         "waitress", "portage", "zstandard", "pyudev")  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]


def _module_imports(module: str) -> set[str]:
    """What a module imports when it is imported (module level, not inside functions, not
    under `if TYPE_CHECKING:`), as absolute module names (pure: reads the source)."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not path.is_file():
        return set()
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def imported_by(module: str) -> set[str]:
    """Every module importing `module` brings in, transitively (pure, static)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        todo += [m for m in _module_imports(name) | parents if m.startswith("provision")]
        seen |= {m for m in _module_imports(name) if not m.startswith("provision")}
    return seen


@pytest.mark.parametrize("command", ["status", "build", "iso"])
def test_light_commands_import_no_heavy_library(command: str) -> None:
    """`provision status` (start-up goal: 4x the bare interpreter), `build` (the no-op pass)
    and `iso` (a per-host medium from its base) load heavy libraries only where used."""
    heavy = {m for m in imported_by(f"provision.commands.{command}") if m.split(".")[0] in HEAVY}
    assert heavy == set(), sorted(heavy)


def test_the_check_sees_heavy_imports() -> None:
    assert "flask" in imported_by("provision.commands.serve")
