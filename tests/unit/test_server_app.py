from __future__ import annotations

from pathlib import Path

import pytest

from provision.commands.serve import split_listen
from provision.errors import ConfigError
from provision.server.app import create_app
from provision.server.settings import ServerSettings, load_settings


def test_refuses_without_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="refuses to start without a secret key"):
        load_settings(tmp_path, tmp_path)


def test_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRET_KEY", raising=False)
    (tmp_path / "server.toml").write_text(
        'secret_key = "0123456789abcdef"\nbase_url = "http://x:1"\n'
    )
    s = load_settings(tmp_path, tmp_path)
    assert s.base_url == "http://x:1" and s.secret_key == "0123456789abcdef"
    (tmp_path / "server.toml").write_text("colour = 'x'\n")
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_settings(tmp_path, tmp_path)


def test_healthz(tmp_path: Path) -> None:
    app = create_app(ServerSettings(tmp_path, tmp_path, secret_key="s" * 32))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200 and resp.data == b"ok\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        (":8080", ("0.0.0.0", 8080)),
        ("[::1]:9", ("::1", 9)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),  # port 0: any free port
    ],
)
def test_split_listen(text: str, expected: tuple[str, int]) -> None:
    assert split_listen(text) == expected


def test_split_listen_bad() -> None:
    with pytest.raises(ConfigError, match="is not ADDR:PORT"):
        split_listen("localhost")
