"""DNS against a real BIND 9 on 127.0.0.1: SRV discovery, RFC 2136 + TSIG registration,
ownership prerequisites, a rejected key, and BIND down -> queued -> retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from provision.cli import main
from provision.dns.check import check_settings
from provision.dns.discover import ResolverConfig, discover, discover_server, locate_server
from provision.dns.errors import DiscoveryError, DnsAuthError, DnsConflict, DnsRefused
from provision.dns.hooks import on_host_installed
from provision.dns.queue import RetryQueue
from provision.dns.register import register_host, remove_host
from tests.integration.bind_fixture import Bind, free_port, start_bind

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    server = start_bind(tmp_path_factory.mktemp("dns-bind"))
    yield server
    server.stop()


def lookup(bind: Bind, name: str, rdtype: str) -> list[str]:
    """What BIND serves, asked directly (not through the code under test)."""
    answer = dns.query.tcp(
        dns.message.make_query(name, rdtype), "127.0.0.1", port=bind.port, timeout=5
    )
    return sorted(r.to_text() for rrset in answer.answer for r in rrset)


def serial(bind: Bind, zone: str) -> int:
    return int(lookup(bind, zone, "SOA")[0].split()[2])


def resolver(bind: Bind, *search: str) -> ResolverConfig:
    return ResolverConfig(nameservers=("127.0.0.1",), port=bind.port, search=search, timeout=3)


# --- discovery ---------------------------------------------------------------------------------


def test_srv_discovery_follows_priority_and_weight(bind: Bind) -> None:
    # randint picks the top of the range each time: the last record of the running sums wins
    found = discover("example.test", resolver(bind), randint=lambda lo, hi: hi)
    assert found.servers == [
        "http://boot-c.example.test:8082",
        "http://boot-b.example.test:8081",
        "http://boot-a.example.test:8080",
        "http://backup.example.test:8090",  # priority 20 only after every priority 10 target
    ]
    assert found.profile_hint == "desktop-amd64"
    url, hint = discover_server("example.test", resolver(bind), randint=lambda lo, hi: min(hi, 1))
    assert (url, hint) == ("http://boot-a.example.test:8080", "desktop-amd64")
    # the installer: no provision.server= on the command line, so DNS decides
    url, hint = locate_server("quiet provision.domain=example.test", resolver(bind))
    assert url in found.servers[:3] and hint == "desktop-amd64"
    url, hint = locate_server("provision.domain=example.test provision.profile=web", resolver(bind))
    assert url in found.servers[:3] and hint == "web"


def test_discovery_walks_the_search_list_and_the_cli(bind: Bind, tmp_path: Path) -> None:
    # not-served.test is REFUSED, empty.example.test has no SRV: example.test answers
    cfg = resolver(bind, "not-served.test", "empty.example.test", "example.test")
    url, hint = discover_server(None, cfg)
    assert url.startswith("http://") and url.endswith((":8080", ":8081", ":8082"))
    assert hint == "desktop-amd64"
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\nsearch empty.example.test example.test\n")
    args = ["dns", "discover", "--resolv-conf", str(conf), "--nameserver", f"127.0.0.1:{bind.port}"]
    assert main(args) == 0


def test_discovery_errors_are_clear(bind: Bind, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DiscoveryError, match=r"_provision\._tcp\.empty\.example\.test\.: no SRV"):
        discover_server("empty.example.test", resolver(bind))
    with pytest.raises(DiscoveryError, match="not available"):
        discover_server("off.example.test", resolver(bind))
    with pytest.raises(DiscoveryError, match="no domain to search"):
        discover_server(None, resolver(bind))
    down = ResolverConfig(nameservers=("127.0.0.1",), port=free_port(), timeout=0.5)
    with pytest.raises(DiscoveryError, match=r"no answer from nameserver 127\.0\.0\.1"):
        discover_server("example.test", down)
    args = ["dns", "discover", "--domain", "empty.example.test"]
    assert main([*args, "--nameserver", f"127.0.0.1:{bind.port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("provision: error: no provisioning server found") and err.count("\n") == 1


# --- configuration check -----------------------------------------------------------------------


def test_check_passes_and_leaves_the_zone_as_it_was(bind: Bind, tmp_path: Path) -> None:
    lines = check_settings(bind.settings())
    assert [line.split(":")[0] for line in lines] == [
        "zone example.test",
        "zone 2.0.192.in-addr.arpa",
        "zone 8.b.d.0.1.0.0.2.ip6.arpa",
    ]
    assert all("may update it" in line for line in lines)
    assert lookup(bind, "_provision-check.example.test", "TXT") == []
    (tmp_path / "dns.toml").write_text(bind.toml())
    assert main(["--data-dir", str(tmp_path), "dns", "check"]) == 0


def test_check_reports_missing_zone(bind: Bind) -> None:
    with pytest.raises(DnsRefused, match=r"does not serve zone nowhere\.test"):
        check_settings(bind.settings(zone="nowhere.test", reverse_zones=()))


# --- registration ------------------------------------------------------------------------------


def test_register_replace_remove(bind: Bind) -> None:
    s = bind.settings()
    owner = "52:54:00:00:00:21"
    result = register_host(s, "web1", ["192.0.2.21", "2001:db8::21"], owner)
    assert result.changes == [
        "web1.example.test: 192.0.2.21 2001:db8::21",
        "PTR 192.0.2.21 -> web1.example.test",
        "PTR 2001:db8::21 -> web1.example.test",
    ]
    assert lookup(bind, "web1.example.test", "A") == ["192.0.2.21"]
    assert lookup(bind, "web1.example.test", "AAAA") == ["2001:db8::21"]
    assert lookup(bind, "web1.example.test", "TXT") == [f'"heritage=provision,owner={owner}"']
    assert lookup(bind, "21.2.0.192.in-addr.arpa", "PTR") == ["web1.example.test."]
    v6 = "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    assert lookup(bind, v6, "PTR") == ["web1.example.test."]

    # idempotent: the same registration again changes nothing, not even the serial
    before = (serial(bind, "example.test"), serial(bind, "2.0.192.in-addr.arpa"))
    assert register_host(s, "web1", ["192.0.2.21", "2001:db8::21"], owner).changes == []
    assert (serial(bind, "example.test"), serial(bind, "2.0.192.in-addr.arpa")) == before

    # reinstall with another address: A replaced, AAAA gone, the stale PTRs removed
    result = register_host(s, "web1.example.test", ["192.0.2.22"], owner)
    assert lookup(bind, "web1.example.test", "A") == ["192.0.2.22"]
    assert lookup(bind, "web1.example.test", "AAAA") == []
    assert lookup(bind, "21.2.0.192.in-addr.arpa", "PTR") == []
    assert lookup(bind, "21.2.0.192.in-addr.arpa", "TXT") == []
    assert lookup(bind, v6, "PTR") == []
    assert lookup(bind, "22.2.0.192.in-addr.arpa", "PTR") == ["web1.example.test."]

    # decommission: everything provision put there goes; a second removal is a no-op
    assert remove_host(s, "web1", owner).changes == [
        "removed web1.example.test",
        "removed PTR 192.0.2.22",
    ]
    for name, rdtype in [("web1.example.test", "A"), ("web1.example.test", "TXT")]:
        assert lookup(bind, name, rdtype) == []
    assert lookup(bind, "22.2.0.192.in-addr.arpa", "PTR") == []
    assert remove_host(s, "web1", owner).changes == []


def test_address_without_reverse_zone_is_reported(bind: Bind) -> None:
    result = register_host(bind.settings(), "edge", ["198.51.100.7"], "edge-host")
    assert lookup(bind, "edge.example.test", "A") == ["198.51.100.7"]
    assert result.skipped == ["PTR for 198.51.100.7: no reverse zone configured"]


def test_ownership_prevents_overwriting(bind: Bind) -> None:
    s = bind.settings()
    register_host(s, "web2", ["192.0.2.31"], "52:54:00:00:00:31")
    before = serial(bind, "example.test")
    with pytest.raises(
        DnsConflict, match=r"web2\.example\.test\. is held by owner 52:54:00:00:00:31"
    ):
        register_host(s, "web2", ["192.0.2.32"], "52:54:00:00:00:32")
    with pytest.raises(DnsConflict, match="held by owner 52:54:00:00:00:31"):
        remove_host(s, "web2", "52:54:00:00:00:32")
    # records an admin put in the zone file are not provision's
    with pytest.raises(DnsConflict, match=r"ns\.example\.test\. is held by records not managed"):
        register_host(s, "ns", ["192.0.2.40"], "52:54:00:00:00:40")
    with pytest.raises(DnsConflict, match="records not managed by provision"):
        remove_host(s, "printer")
    # another host wanting web2's address: its PTR is not taken, and nothing at all is written
    with pytest.raises(DnsConflict, match=r"31\.2\.0\.192\.in-addr\.arpa\. is held by owner"):
        register_host(s, "web3", ["192.0.2.31"], "52:54:00:00:00:33")
    assert lookup(bind, "web3.example.test", "A") == []
    assert serial(bind, "example.test") == before
    assert lookup(bind, "web2.example.test", "A") == ["192.0.2.31"]
    assert lookup(bind, "ns.example.test", "A") == ["127.0.0.1"]
    # without an owner, the admin may remove any provision-managed name
    remove_host(s, "web2")
    assert lookup(bind, "web2.example.test", "A") == []
    assert lookup(bind, "31.2.0.192.in-addr.arpa", "PTR") == []


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        pytest.param({"key_name": "nosuchkey"}, DnsAuthError, "BADKEY", id="unknown-key"),
        pytest.param({"key_secret": "d3Jvbmc="}, DnsAuthError, "BADSIG", id="wrong-secret"),
        pytest.param({"key_algorithm": "hmac-sha512"}, DnsAuthError, "BADKEY", id="wrong-alg"),
        pytest.param({"key_name": "readonly"}, DnsRefused, "refused the update", id="no-right"),
    ],
)
def test_wrong_key_is_refused(
    bind: Bind, overrides: dict[str, str], error: type[Exception], match: str
) -> None:
    overrides = dict(overrides)
    if overrides.get("key_name") == "readonly":
        overrides["key_secret"] = (bind.workdir / "readonly.secret").read_text()
    s = bind.settings(**overrides)
    with pytest.raises(error, match=match):
        register_host(s, "intruder", ["192.0.2.66"], "52:54:00:00:00:66")
    with pytest.raises(error, match=match):
        check_settings(s)
    assert lookup(bind, "intruder.example.test", "A") == []


def test_cli_register_and_bad_key_one_line(
    bind: Bind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dns.toml").write_text(bind.toml())
    base = ["--data-dir", str(tmp_path), "dns"]
    assert (
        main([*base, "register", "cli1", "--ip", "192.0.2.51", "--mac", "52-54-00-00-00-51"]) == 0
    )
    assert lookup(bind, "cli1.example.test", "TXT") == [
        '"heritage=provision,owner=52:54:00:00:00:51"'
    ]
    assert main([*base, "remove", "cli1"]) == 0
    assert lookup(bind, "cli1.example.test", "A") == []
    bad = tmp_path / "bad.toml"
    bad.write_text(bind.toml().replace(bind.secret, "d3Jvbmc="))
    capsys.readouterr()
    assert main([*base, "check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rejected the signature of TSIG key 'provision-test'" in err and err.count("\n") == 1


# --- BIND down: the install completes, the registration is queued and retried ---------------


def test_bind_down_queues_and_retries(
    bind: Bind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dns.toml").write_text(bind.toml())
    queue = RetryQueue.in_data_dir(tmp_path)
    bind.stop()
    try:
        outcome = on_host_installed(tmp_path, "late", ["192.0.2.77"], mac="52:54:00:00:00:77")
        assert outcome is not None and not outcome.done
        assert "connection refused" in outcome.error
        [entry] = queue.entries()
        assert (entry.op, entry.host, entry.addresses) == ("register", "late", ("192.0.2.77",))
        assert entry.owner == "52:54:00:00:00:77" and entry.attempts == 1
        assert main(["--data-dir", str(tmp_path), "dns", "retry"]) == 2
        assert "still failing" in capsys.readouterr().err
        assert queue.entries()[0].attempts == 2
    finally:
        bind.start()
    assert main(["--data-dir", str(tmp_path), "dns", "retry"]) == 0
    assert "done: register late" in capsys.readouterr().out
    assert queue.entries() == []
    assert lookup(bind, "late.example.test", "A") == ["192.0.2.77"]
    assert lookup(bind, "77.2.0.192.in-addr.arpa", "PTR") == ["late.example.test."]


def test_tsig_is_really_checked(bind: Bind) -> None:
    """The harness itself: an unsigned update is refused by this BIND (the key matters)."""

    msg = dns.update.UpdateMessage("example.test")
    msg.add("unsigned", 60, "A", "192.0.2.88")
    assert dns.query.tcp(msg, "127.0.0.1", port=bind.port, timeout=5).rcode() == dns.rcode.REFUSED
    signed = dns.update.UpdateMessage("example.test")
    signed.use_tsig(dns.tsig.Key("provision-test", bind.secret))
    signed.delete("unsigned")
    assert dns.query.tcp(signed, "127.0.0.1", port=bind.port, timeout=5).rcode() == 0
