"""The CLI's command table (names and help without importing the commands) stays true."""

from __future__ import annotations

import argparse
import importlib

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
