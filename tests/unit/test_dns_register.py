"""Pure parts of registration: names, owners and the RFC 2136 messages we build."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from provision.dns.check import plan_probe
from provision.dns.register import (
    AAAA,
    PTR,
    A,
    NameState,
    Owner,
    fqdn_for,
    marker,
    marker_owner,
    owner_id,
    parse_addresses,
    plan_claim,
    plan_release,
)
from provision.errors import ConfigError
from provision.names import normalize_mac

ZONE = dns.name.from_text("example.test")
WEB1 = dns.name.from_text("web1.example.test")
OURS = dns.rrset.from_text(WEB1, 300, "IN", "TXT", '"heritage=provision,owner=52:54:00:00:00:01"')


def sections(msg: object) -> list[str]:
    text: str = msg.to_text()  # type: ignore[attr-defined]
    return [line for line in text.splitlines() if not line.startswith(("id ", "opcode", "flags"))]


def test_claim_of_a_free_name_requires_it_unused() -> None:
    msg = plan_claim(ZONE, WEB1, 60, "52:54:00:00:00:01", {A: ["192.0.2.5"], AAAA: []}, None)
    assert sections(msg) == [
        "rcode NOERROR",
        ";ZONE",
        "example.test. IN SOA",
        ";PREREQ",
        "web1.example.test. NONE ANY",  # RFC 2136 2.4.5: name is not in use
        ";UPDATE",
        'web1.example.test. 60 IN TXT "heritage=provision,owner=52:54:00:00:00:01"',
        "web1.example.test. ANY A",
        "web1.example.test. 60 IN A 192.0.2.5",
        "web1.example.test. ANY AAAA",
        ";ADDITIONAL",
    ]


def test_claim_of_our_name_requires_the_exact_ownership_rrset() -> None:
    msg = plan_claim(ZONE, WEB1, 60, "52:54:00:00:00:01", {A: ["192.0.2.6"]}, OURS)
    lines = sections(msg)
    # RFC 2136 2.4.2: value-dependent "RRset exists", TTL 0
    prereq = lines[lines.index(";PREREQ") + 1 : lines.index(";UPDATE")]
    assert prereq == ['web1.example.test. 0 IN TXT "heritage=provision,owner=52:54:00:00:00:01"']
    update = lines[lines.index(";UPDATE") + 1 : lines.index(";ADDITIONAL")]
    assert update == ["web1.example.test. ANY A", "web1.example.test. 60 IN A 192.0.2.6"]


def test_release_deletes_only_our_records() -> None:
    msg = plan_release(ZONE, WEB1, OURS, "52:54:00:00:00:01", [A, AAAA])
    lines = sections(msg)
    assert lines[lines.index(";UPDATE") + 1 : lines.index(";ADDITIONAL")] == [
        "web1.example.test. ANY A",
        "web1.example.test. ANY AAAA",
        'web1.example.test. 0 NONE TXT "heritage=provision,owner=52:54:00:00:00:01"',
    ]


def test_ptr_claim_in_reverse_zone() -> None:
    rzone = dns.name.from_text("2.0.192.in-addr.arpa")
    rname = dns.name.from_text("5.2.0.192.in-addr.arpa")
    msg = plan_claim(rzone, rname, 60, "o", {PTR: [WEB1.to_text()]}, None)
    assert "5.2.0.192.in-addr.arpa. 60 IN PTR web1.example.test." in sections(msg)
    assert "2.0.192.in-addr.arpa. IN SOA" in sections(msg)


def test_check_probe_adds_and_deletes() -> None:
    lines = sections(plan_probe(ZONE))
    assert lines[lines.index(";UPDATE") + 1 : lines.index(";ADDITIONAL")] == [
        '_provision-check.example.test. 0 IN TXT "provision dns check"',
        "_provision-check.example.test. ANY ANY",
    ]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("web1", "web1.example.test.", id="relative"),
        pytest.param("web1.example.test", "web1.example.test.", id="inside"),
        pytest.param("WEB1.Example.Test.", "WEB1.Example.Test.", id="absolute"),
        pytest.param("web1.lab", "web1.lab.example.test.", id="sub-relative"),
    ],
)
def test_fqdn_for(host: str, expected: str) -> None:
    assert fqdn_for(host, "example.test").to_text() == expected


@pytest.mark.parametrize("host", ["web1.other.test.", "example.test", "a..b", ""])
def test_fqdn_for_rejects(host: str) -> None:
    with pytest.raises(ConfigError, match=r"^host: "):
        fqdn_for(host, "example.test")


def test_owner_ids() -> None:
    assert normalize_mac("52-54-00-AA-BB-CC") == "52:54:00:aa:bb:cc"
    assert normalize_mac("525400aabbcc") == "52:54:00:aa:bb:cc"
    assert owner_id("52:54:00:AA:BB:CC", "ignored") == "52:54:00:aa:bb:cc"
    assert owner_id(None, "host-17") == "host-17"
    with pytest.raises(ConfigError, match=r"^mac: "):
        owner_id("52:54:00", None)
    with pytest.raises(ConfigError, match=r"^owner: "):
        owner_id(None, 'bad"id')


def test_addresses() -> None:
    assert parse_addresses([" 192.0.2.1", "2001:DB8::1", "192.0.2.1"]) == (
        "192.0.2.1",
        "2001:db8::1",
    )
    with pytest.raises(ConfigError, match=r"^ip: '192\.0\.2\.300'"):
        parse_addresses(["192.0.2.300"])


def test_ownership_states() -> None:
    other = dns.rrset.from_text(WEB1, 300, "IN", "TXT", '"v=spf1 -all"', f'"{marker("x")}"')
    admin = dns.rrset.from_text(WEB1, 300, "IN", "TXT", '"v=spf1 -all"')
    assert marker_owner(other) == "x" and marker_owner(admin) is None and marker_owner(None) is None
    assert NameState(WEB1, False, None).ownership("me") is Owner.FREE
    assert NameState(WEB1, True, other).ownership("x") is Owner.OURS
    assert NameState(WEB1, True, other).ownership(None) is Owner.OURS
    assert NameState(WEB1, True, other).ownership("me") is Owner.FOREIGN
    assert NameState(WEB1, True, admin).ownership(None) is Owner.FOREIGN
    assert NameState(WEB1, True, None).describe_holder() == "records not managed by provision"
    assert dns.rdatatype.to_text(A) == "A"
