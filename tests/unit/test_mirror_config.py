"""Mirrors for clients: mirrors.toml, the installer's binrepos.conf with several binhosts, and
the worker command's small parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.commands.worker import parse_rate
from provision.errors import ConfigError
from provision.install.config import config_document, parse_config
from provision.install.steps.portage import portage_files
from provision.mirror import KEY_FILE, parse_mirrors
from provision.portage.render import render_binrepos
from provision.profiles import ProfileSet
from provision.server.mirror_app import create_mirror_app


def test_mirrors_toml() -> None:
    text = (
        '[[mirror]]\nurl = "http://mirror.branch.example:8081/"\n'
        '[[mirror]]\nurl = "https://far.example"\npriority = 5\n'
    )
    assert parse_mirrors(text, "mirrors.toml") == (
        (10000, "http://mirror.branch.example:8081"),
        (5, "https://far.example"),
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('[[mirror]]\nurl = "ftp://x"', id="scheme"),
        pytest.param('[[mirror]]\nurl = "http://x y"', id="blank"),
        pytest.param('[[mirror]]\nurl = "http://x"\npriority = true', id="bool"),
        pytest.param('[[mirror]]\nurl = "http://x"\npriority = -1', id="negative"),
        pytest.param('mirror = "http://x"', id="not-a-table"),
        pytest.param("[other]\n", id="unknown"),
    ],
)
def test_bad_mirrors_toml_names_the_field(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_mirrors(text, "mirrors.toml")


def test_binrepos_lists_the_server_and_its_mirrors(profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    doc = config_document(
        host_id="h",
        hostname="s1",
        profile=profile,
        settings={},
        base_url="http://srv",
        wipe=False,
        mirrors=((10000, "http://m1:8081"),),
    )
    config = parse_config(json.loads(json.dumps(doc)))
    assert config.sources.mirrors() == [(10000, "http://m1:8081/binhost/server-amd64/")]
    assert portage_files(config)["/etc/portage/binrepos.conf/provision.conf"] == render_binrepos(
        [
            ("provision", "http://srv/binhost/server-amd64/", 9999),
            ("provision-mirror-1", "http://m1:8081/binhost/server-amd64/", 10000),
        ]
    )
    text = render_binrepos([("a", "http://a", 1), ("b", "http://b", 2)])
    assert text.count("verify-signature = true") == 2


def test_upload_limits() -> None:
    assert (
        parse_rate("0") == 0 and parse_rate("500k") == 500 << 10 and parse_rate("20M") == 20 << 20
    )
    for bad in ("-1", "1.5M", "fast", "1T"):
        with pytest.raises(ConfigError):
            parse_rate(bad)


def test_the_mirror_app_serves_snapshots_the_current_view_and_the_key(tmp_path: Path) -> None:
    sid = "20261201T000000Z-abcdef"
    snap = tmp_path / "snapshots" / "server-amd64" / sid
    (snap / "binhost").mkdir(parents=True)
    (snap / "binhost" / "Packages").write_text("PACKAGES: 0\n")
    (snap / "meta.json").write_text("{}")
    (tmp_path / "snapshots" / "server-amd64" / "current").symlink_to(sid)
    client = create_mirror_app(tmp_path).test_client()
    assert client.get("/key.asc").status_code == 404  # nothing pinned yet
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / KEY_FILE).write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    for url in (
        "/key.asc",
        "/binhost/server-amd64/Packages",
        f"/snapshots/server-amd64/{sid}/meta.json",
    ):
        resp = client.get(url)
        assert resp.status_code == 200, url
        resp.close()
    assert client.get("/login").status_code == 404  # a mirror has no UI, no API
