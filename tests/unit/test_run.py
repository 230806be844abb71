from __future__ import annotations

from provision.errors import CommandError


def test_command_error_summary() -> None:
    err = CommandError(["emerge", "--ask=n", "app-misc/hello"], 1, "", "noise\n!!! ebuild failed\n")
    assert err.argv[0] == "emerge"
    assert err.returncode == 1
    assert (
        str(err) == "command failed (exit code 1): emerge --ask=n app-misc/hello: !!! ebuild failed"
    )


def test_command_error_timeout() -> None:
    err = CommandError(["sleep", "9"], None, reason="timed out after 1 s")
    assert str(err) == "command failed (timed out after 1 s): sleep 9"
