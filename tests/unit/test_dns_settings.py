"""DnsSettings validation: one-line errors naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provision.dns.settings import DnsSettings, load_dns_settings, settings_from_dict
from provision.errors import ConfigError

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
GOOD: dict[str, Any] = {
    "server": "192.0.2.53",
    "zone": "example.test",
    "key_name": "provision",
    "key_secret": SECRET,
}


def test_minimal_settings_get_defaults() -> None:
    s = settings_from_dict(dict(GOOD), "dns.toml")
    assert (s.port, s.key_algorithm, s.ttl, s.timeout, s.reverse_zones) == (
        53,
        "hmac-sha256",
        300,
        5.0,
        (),
    )
    assert s.tsig_key.algorithm.to_text() == "hmac-sha256."


def test_full_settings() -> None:
    raw = GOOD | {
        "server": "2001:db8::53",
        "port": 5353,
        "reverse_zones": ["2.0.192.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa."],
        "key_algorithm": "hmac-sha512",
        "ttl": 60,
        "timeout": 2,
    }
    s = settings_from_dict(raw, "dns.toml")
    assert s.port == 5353 and s.timeout == 2.0 and len(s.reverse_zones) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"server": "ns.example.test"},
            "server: 'ns.example.test' is not an IP",
            id="server-name",
        ),
        pytest.param({"port": 0}, "port: 0 is not a port number", id="port-zero"),
        pytest.param({"port": 70000}, "port: 70000 is not a port number", id="port-high"),
        pytest.param({"port": "53"}, "port: expected an integer, got str", id="port-str"),
        pytest.param({"ttl": True}, "ttl: expected an integer, got bool", id="ttl-bool"),
        pytest.param({"ttl": -1}, "ttl: -1 is out of range", id="ttl-negative"),
        pytest.param(
            {"zone": "bad zone"}, "zone: 'bad zone' is not a DNS zone name", id="zone-space"
        ),
        pytest.param(
            {"zone": "a..b"}, "zone: 'a..b' is not a DNS zone name", id="zone-empty-label"
        ),
        pytest.param(
            {"reverse_zones": ["example.test"]}, "not under in-addr.arpa or ip6.arpa", id="rev-fwd"
        ),
        pytest.param({"reverse_zones": "2.0.192.in-addr.arpa"}, "expected a list", id="rev-str"),
        pytest.param({"reverse_zones": [1]}, "expected a list of strings", id="rev-int"),
        pytest.param(
            {"key_secret": "not base64!"}, "key_secret: not valid base64", id="secret-b64"
        ),
        pytest.param({"key_secret": ""}, "key_secret: must not be empty", id="secret-empty"),
        pytest.param(
            {"key_algorithm": "hmac-sha3"}, "key_algorithm: 'hmac-sha3' is not one of", id="alg"
        ),
        pytest.param({"timeout": 0}, "timeout: 0.0 is out of range", id="timeout-zero"),
        pytest.param({"secret": "x"}, "secret: unknown key (allowed: server, port", id="unknown"),
    ],
)
def test_invalid_settings(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict(GOOD | change, "/etc/provision/dns.toml")
    text = str(err.value)
    assert text.startswith("/etc/provision/dns.toml: ") and message in text
    assert "\n" not in text


@pytest.mark.parametrize("missing", ["server", "zone", "key_name", "key_secret"])
def test_required_keys(missing: str) -> None:
    raw = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^dns.toml: {missing}: missing"):
        settings_from_dict(raw, "dns.toml")


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "dns.toml"
    path.write_text(
        'server = "127.0.0.1"\nport = 5300\nzone = "example.test"\n'
        f'key_name = "k"\nkey_secret = "{SECRET}"\n'
    )
    s = load_dns_settings(path)
    assert s.port == 5300 and s.source == str(path)
    path.write_text("server = \n")
    with pytest.raises(ConfigError, match=f"^{path}: not valid TOML"):
        load_dns_settings(path)
    path.write_text(
        f'server = "127.0.0.1"\nzone = "example.test"\nkey_name = "k"\n'
        f'key_secret = "{SECRET}"\nttl = "x"\n'
    )
    with pytest.raises(ConfigError, match=f"^{path}: ttl: expected an integer"):
        load_dns_settings(path)
    with pytest.raises(ConfigError, match="no DNS configuration"):
        load_dns_settings(tmp_path / "missing.toml")


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"^dns\.toml: key_algorithm"):
        DnsSettings(
            server="127.0.0.1", zone="z.test", key_name="k", key_secret=SECRET, key_algorithm="x"
        )


def test_reverse_zone_lookup_prefers_the_longest() -> None:
    import dns.reversename

    s = settings_from_dict(
        GOOD | {"reverse_zones": ["192.in-addr.arpa", "2.0.192.in-addr.arpa"]}, "dns.toml"
    )
    zone = s.reverse_zone_for(dns.reversename.from_address("192.0.2.7"))
    assert zone is not None and zone.to_text() == "2.0.192.in-addr.arpa."
    other = s.reverse_zone_for(dns.reversename.from_address("192.1.0.7"))
    assert other is not None and other.to_text() == "192.in-addr.arpa."
    assert s.reverse_zone_for(dns.reversename.from_address("10.0.0.1")) is None
