"""The stamp: config.toml and the provision.* kernel arguments (pure)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from typing import Any

import pytest

from provision.errors import ConfigError
from provision.iso.menus import TEMPLATES_DIR, load_templates
from provision.iso.stamp import Stamp, kernel_args, render_config
from tests.unit.iso_samples import KEY, STAMP


def config_of(stamp: Stamp) -> dict[str, Any]:
    return tomllib.loads(render_config(stamp, load_templates(TEMPLATES_DIR)["config.toml"]))


def test_config_round_trips_through_toml() -> None:
    cfg = config_of(STAMP)
    assert cfg == {
        "server": "http://192.0.2.1:8080",
        "profile": "desktop-amd64",
        "mac": "52:54:00:12:34:56",
        "hostname": "ws1",
        "token": "tok-EN_123",
        "offline": False,
        "snapshot": "",
        "binhost": "",
        "repo": "",
        "stage": "",
        "public_key_file": "/provision/server.asc",
        "public_key": KEY,
    }


def test_offline_config_points_at_the_medium() -> None:
    stamp = replace(STAMP, offline=True, snapshot="20240101-1", has_repo=True, stage="s3.tar.xz")
    cfg = config_of(stamp)
    assert cfg["offline"] is True
    assert cfg["binhost"] == "/provision/snapshot/binhost"
    assert cfg["repo"] == "/provision/snapshot/repo"
    assert cfg["stage"] == "/provision/stage/s3.tar.xz"


def test_kernel_args() -> None:
    assert kernel_args(STAMP) == [
        "provision.server=http://192.0.2.1:8080",
        "provision.profile=desktop-amd64",
        "provision.host=52:54:00:12:34:56",
        "provision.hostname=ws1",
        "provision.token=tok-EN_123",
        "provision.config=/provision/config.toml",
    ]


def test_enrollment_medium_has_no_host_or_token() -> None:
    args = kernel_args(replace(STAMP, mac="", hostname="", token=""))
    assert not [a for a in args if a.startswith(("provision.host", "provision.token"))]


def test_hostname_only_names_the_host() -> None:
    stamp = replace(STAMP, mac="", token="")
    assert "provision.host=ws1" in kernel_args(stamp)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"server": "ftp://x"}, "not an http", id="server-scheme"),
        pytest.param({"server": "http://a b"}, "not an http", id="server-blank"),
        pytest.param({"server": "http://x;reboot"}, "not an http", id="server-grub-syntax"),
        pytest.param({"profile": "a b"}, "not a profile name", id="profile"),
        pytest.param({"token": 'x"y'}, "URL-safe base64", id="token-quote"),
        pytest.param({"hostname": "a b"}, "not a valid host name", id="hostname-blank"),
        pytest.param({"hostname": "a;reboot"}, "not a valid host name", id="hostname-grub"),
        pytest.param({"mac": "52:54:00:12:34:56\n"}, "not a MAC", id="mac-newline"),
        pytest.param({"public_key": "ssh-ed25519 AAAA"}, "OpenPGP", id="key"),
        pytest.param({"offline": True}, "needs the snapshot", id="offline-no-snapshot"),
    ],
)
def test_invalid_stamps(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        replace(STAMP, **changes)


def test_bad_template_placeholder() -> None:
    with pytest.raises(ConfigError, match=r"config\.toml template"):
        render_config(STAMP, "x = ${nope}\n")
