"""The URL a client is given is the one it used (Host header, validated), a per-network URL, or
base_url; never a loopback URL to a machine that is not on loopback.  Behind a trusted proxy
the proxy's X-Forwarded-* count, from anyone else they do not."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.server.app import create_app
from provision.server.settings import NetworkURL, ServerSettings, load_settings
from provision.server.store import Store
from provision.server.urls import client_base_url, split_host
from tests.conftest import PROFILES

MAC = "52:54:00:ab:cd:01"


def settings(tmp_path: Path, **kw: object) -> ServerSettings:
    return ServerSettings(tmp_path, PROFILES, secret_key="s" * 32, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        pytest.param("Example.ORG", "http", ("example.org", 80), id="default-http"),
        pytest.param("example.org", "https", ("example.org", 443), id="default-https"),
        pytest.param("10.0.2.2:8080", "http", ("10.0.2.2", 8080), id="ip-port"),
        pytest.param("[::1]:8080", "http", ("::1", 8080), id="ipv6"),
        pytest.param("a.b:0", "http", None, id="port-0"),
        pytest.param("a.b:99999", "http", None, id="port-too-big"),
        pytest.param("evil.org/x", "http", None, id="path"),
        pytest.param("evil.org\nx", "http", None, id="newline"),
        pytest.param("", "http", None, id="empty"),
    ],
)
def test_split_host(host: str, scheme: str, expected: tuple[str, int] | None) -> None:
    assert split_host(host, scheme) == expected


LOOPBACK = "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("kw", "host", "remote", "expected"),
    [
        pytest.param(
            {"server_names": ("10.0.2.2",)}, "10.0.2.2:8080", "10.0.2.15",
            "http://10.0.2.2:8080", id="listed-name-any-port",
        ),
        pytest.param(
            {"server_names": ("prov.example.org:8080",)}, "prov.example.org:8080", "192.0.2.9",
            "http://prov.example.org:8080", id="listed-name-and-port",
        ),
        pytest.param(
            {"server_names": ("prov.example.org:8080",)}, "prov.example.org:9999", "192.0.2.9",
            None, id="listed-name-other-port",
        ),
        pytest.param({}, "evil.example:8080", "192.0.2.9", None, id="unlisted-loopback-base"),
        pytest.param(
            {"base_url": "http://prov.example.org"}, "evil.example", "192.0.2.9",
            "http://prov.example.org", id="unlisted-falls-back-to-base-url",
        ),
        pytest.param(
            {"base_url": "http://prov.example.org"}, "prov.example.org", "192.0.2.9",
            "http://prov.example.org", id="base-url-host-is-allowed",
        ),
        pytest.param({}, "127.0.0.1:8080", "127.0.0.1", LOOPBACK, id="loopback-to-loopback"),
        pytest.param({}, "127.0.0.1:8080", "192.0.2.9", None, id="never-loopback-to-remote"),
        pytest.param(
            {"server_names": ("localhost",)}, "localhost:8080", "192.0.2.9", None,
            id="listed-loopback-name-not-to-remote",
        ),
        pytest.param(
            {"networks": (NetworkURL(ipaddress.ip_network("10.0.2.0/24"), "http://10.0.2.2:8080"),)},
            "whatever", "10.0.2.15", "http://10.0.2.2:8080", id="per-network",
        ),
        pytest.param(
            {"networks": (NetworkURL(ipaddress.ip_network("10.0.2.0/24"), "http://10.0.2.2:8080"),)},
            "whatever", "10.0.3.15", None, id="other-network",
        ),
    ],
)  # fmt: skip
def test_client_base_url(
    tmp_path: Path, kw: dict[str, object], host: str, remote: str, expected: str | None
) -> None:
    s = settings(tmp_path, **{"base_url": LOOPBACK, **kw})
    assert client_base_url(s, scheme="http", host=host, remote_addr=remote) == expected


def test_https_and_prefix(tmp_path: Path) -> None:
    s = settings(tmp_path, server_names=("prov.example.org",))
    got = client_base_url(
        s, scheme="https", host="prov.example.org", remote_addr="192.0.2.9", prefix="/prov/"
    )
    assert got == "https://prov.example.org/prov"


def test_settings_file(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text(
        'secret_key = "' + "k" * 32 + '"\nbase_url = "http://prov.example.org:8080/"\n'
        'server_names = ["Prov.Example.org", "10.0.2.2:8080"]\n'
        'trusted_proxies = ["127.0.0.1", "::1"]\nsecure_cookies = true\n'
        '[[networks]]\ncidr = "10.0.2.0/24"\nbase_url = "http://10.0.2.2:8080"\n'
    )
    s = load_settings(tmp_path, PROFILES)
    assert s.base_url == "http://prov.example.org:8080"
    assert s.server_names == ("prov.example.org", "10.0.2.2:8080")
    assert [str(n) for n in s.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    assert s.secure_cookies is True and s.cookies_secure
    assert s.networks == (NetworkURL(ipaddress.ip_network("10.0.2.0/24"), "http://10.0.2.2:8080"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('server_names = ["a b"]', "server_names[0]: 'a b' is not", id="name"),
        pytest.param('server_names = "a"', "server_names: expected an array", id="not-list"),
        pytest.param('trusted_proxies = ["nginx"]', "trusted_proxies[0]: 'nginx' is not an IP",
                     id="proxy"),
        pytest.param('secure_cookies = "yes"', "secure_cookies: expected true or false",
                     id="bool"),
        pytest.param('base_url = "ftp://x"', "base_url: 'ftp://x' is not an http", id="url"),
        pytest.param('[[networks]]\ncidr = "10.0.0.0/8"\n', "networks[0]: cidr and base_url",
                     id="network-url"),
        pytest.param('[[networks]]\ncidr = "x"\nbase_url = "http://a"\n',
                     "networks[0].cidr: 'x' is not", id="network-cidr"),
    ],
)  # fmt: skip
def test_bad_settings(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "server.toml").write_text('secret_key = "' + "k" * 32 + '"\n' + text + "\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(tmp_path, PROFILES)


def test_boot_script_uses_the_address_the_client_used(tmp_path: Path) -> None:
    """QEMU user networking: the guest reaches a loopback-configured server as 10.0.2.2."""
    data = tmp_path / "data"
    app = create_app(settings(data, base_url=LOOPBACK, server_names=("10.0.2.2",)))
    store = Store.in_data_dir(data)
    try:
        token = store.upsert_host(MAC, profile="vm-amd64").token
    finally:
        store.close()
    client = app.test_client()
    guest = {"REMOTE_ADDR": "10.0.2.15"}
    resp = client.get(f"/boot/{MAC}.ipxe", headers={"Host": "10.0.2.2:8080"}, environ_base=guest)
    assert resp.status_code == 200
    assert "kernel http://10.0.2.2:8080/boot/live/vmlinuz " in resp.text
    assert "127.0.0.1" not in resp.text
    config = client.get(
        f"/api/v1/hosts/{MAC}/config",
        headers={"Host": "10.0.2.2:8080", "Authorization": f"Bearer {token}"},
        environ_base=guest,
    )
    assert config.status_code == 200, config.text
    assert "127.0.0.1" not in config.text and "http://10.0.2.2:8080/key.asc" in config.text
    # a remote client naming an address the server does not answer to: a clear refusal,
    # never the loopback base_url
    other = client.get("/boot/boot.ipxe", headers={"Host": "10.9.9.9"}, environ_base=guest)
    assert other.status_code == 421 and "server_names" in other.text
    assert "127.0.0.1" not in other.text
    refused = client.get(
        f"/api/v1/hosts/{MAC}/config",
        headers={"Host": "10.9.9.9", "Authorization": f"Bearer {token}"},
        environ_base=guest,
    )
    assert refused.status_code == 421 and "server_names" in refused.json["error"]  # type: ignore[index]


def test_forwarded_headers_only_from_trusted_proxies(tmp_path: Path) -> None:
    names = ("prov.example.org",)
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "prov.example.org"}
    trusted = create_app(
        settings(tmp_path, server_names=names, trusted_proxies=(ipaddress.ip_network("::1"),))
    ).test_client()
    resp = trusted.get("/boot/boot.ipxe", headers=proxied, environ_base={"REMOTE_ADDR": "::1"})
    assert "chain --autofree https://prov.example.org/boot/" in resp.text
    # the same headers from a peer that is not the proxy are dropped
    resp = trusted.get(
        "/boot/boot.ipxe",
        headers={**proxied, "Host": "prov.example.org"},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert "chain --autofree http://prov.example.org/boot/" in resp.text
    # no trusted proxies at all: never honoured
    plain = create_app(settings(tmp_path, server_names=names)).test_client()
    resp = plain.get("/boot/boot.ipxe", headers=proxied, environ_base={"REMOTE_ADDR": "::1"})
    assert "https://" not in resp.text


def test_secure_cookies_setting(tmp_path: Path) -> None:
    """Secure session cookies: as set, else exactly when base_url is https."""
    assert create_app(settings(tmp_path)).config["SESSION_COOKIE_SECURE"] is False
    assert create_app(settings(tmp_path, secure_cookies=True)).config["SESSION_COOKIE_SECURE"]
    https = settings(tmp_path, base_url="https://prov.example.org")
    assert create_app(https).config["SESSION_COOKIE_SECURE"] is True
    off = settings(tmp_path, base_url="https://prov.example.org", secure_cookies=False)
    assert create_app(off).config["SESSION_COOKIE_SECURE"] is False
