"""`provision admin-password` and the password helpers."""

from __future__ import annotations

import io
import stat
import tomllib
from pathlib import Path

import pytest

from provision.cli import main
from provision.commands.admin import set_key, toml_string
from provision.errors import ConfigError
from provision.server.auth import password_ok
from provision.server.settings import load_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", 'k = "v"\n', id="empty"),
        pytest.param('a = "1"', 'a = "1"\nk = "v"\n', id="append-no-newline"),
        pytest.param('# c\nk = "old"\nb = "2"\n', '# c\nk = "v"\nb = "2"\n', id="replace"),
    ],
)
def test_set_key(text: str, expected: str) -> None:
    assert set_key(text, "k", "v") == expected


def test_set_key_refuses_tables_and_escapes() -> None:
    with pytest.raises(ConfigError, match="not a top-level string key"):
        set_key('[t]\nx = "1"\n', "k", "v")
    odd = 'a"b\\c\nd'
    assert tomllib.loads(f"x = {toml_string(odd)}")["x"] == odd


def test_password_ok() -> None:
    from provision.server.auth import hash_password

    h = hash_password("s3cret-pass")
    assert password_ok(h, "s3cret-pass") and not password_ok(h, "other")
    assert not password_ok("", "x") and not password_ok("garbage$hash", "x")


def test_admin_password_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROVISION_SECRET_KEY", raising=False)
    (tmp_path / "server.toml").write_text('# mine\nbase_url = "http://x:1"\n')
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["--data-dir", str(tmp_path), "admin-password", "--stdin"]) == 0
    text = (tmp_path / "server.toml").read_text()
    assert text.startswith('# mine\nbase_url = "http://x:1"\n')
    assert stat.S_IMODE((tmp_path / "server.toml").stat().st_mode) == 0o600
    settings = load_settings(tmp_path, tmp_path)  # a secret key was made, too
    assert len(settings.secret_key) >= 16
    assert password_ok(settings.admin_password_hash, "a-long-password")
    assert "secret key" in capsys.readouterr().out
    # a second run replaces the hash and keeps the key
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    assert main(["--data-dir", str(tmp_path), "admin-password", "--stdin"]) == 0
    again = load_settings(tmp_path, tmp_path)
    assert again.secret_key == settings.secret_key
    assert password_ok(again.admin_password_hash, "another-password")


def test_admin_password_too_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["--data-dir", str(tmp_path), "admin-password", "--stdin"]) == 2
    assert "too short" in capsys.readouterr().err
    assert not (tmp_path / "server.toml").exists()
