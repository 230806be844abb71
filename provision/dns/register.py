"""Register installed hosts: A/AAAA + PTR with RFC 2136 updates, guarded by ownership records.

Ownership: every name provision manages carries a TXT record `heritage=provision,owner=ID` at
the same name (forward and reverse), ID being the host's MAC (or its host id).  Like
external-dns' TXT registry and the DHCID RR of RFC 4701/4703, an update is only sent with a
prerequisite that proves the state we saw: "name not in use" to claim a free name, or "this exact
TXT RRset exists" to change our own.  A name held by another owner, or by records provision does
not manage, is never overwritten (DnsConflict); a concurrent change makes the prerequisite fail
and is reported the same way.

Message construction is pure (plan_claim, plan_release); register_host/remove_host read the
current state, decide, and send.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.reversename
import dns.rrset
import dns.update

from provision.dns.client import DnsClient
from provision.dns.errors import DnsConflict
from provision.dns.settings import DnsSettings
from provision.errors import ConfigError
from provision.names import normalize_mac

log = logging.getLogger(__name__)

MARKER_PREFIX = "heritage=provision,owner="
_OWNER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._@/-]{0,199}\Z")
A, AAAA, PTR, TXT = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.PTR, dns.rdatatype.TXT)


def owner_id(mac: str | None = None, host_id: str | None = None) -> str:
    """The ownership id of a host: its MAC when known, else its host id."""
    if mac:
        return normalize_mac(mac)
    if not host_id or not _OWNER_RE.match(host_id):
        raise ConfigError("owner", f"{host_id!r}: an owner id is letters, digits and :._@/-")
    return host_id


def marker(owner: str) -> str:
    return MARKER_PREFIX + owner


def marker_owner(txt: dns.rrset.RRset | None) -> str | None:
    """The owner named by a provision ownership TXT in the RRset, if there is one."""
    for rdata in txt or ():
        assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
        text = b"".join(rdata.strings).decode("utf-8", errors="replace")
        if text.startswith(MARKER_PREFIX):
            return text.removeprefix(MARKER_PREFIX)
    return None


def fqdn_for(host: str, zone: str) -> dns.name.Name:
    """HOST (relative to zone, or an absolute name inside it) as an absolute name."""
    origin = dns.name.from_text(zone)
    bare, apex = host.rstrip(".").lower(), zone.rstrip(".").lower()
    absolute = host.endswith(".") or bare == apex or bare.endswith("." + apex)
    try:
        name = dns.name.from_text(host.rstrip(".") + ("." if absolute else ""), origin=origin)
    except dns.exception.DNSException as exc:
        raise ConfigError("host", f"{host!r} is not a valid host name: {exc}") from None
    if not bare or not name.is_subdomain(origin) or name == origin:
        raise ConfigError("host", f"{host!r} is not a name inside zone {zone}")
    return name


def parse_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Validated, normalized, de-duplicated IP addresses (order kept)."""
    result: list[str] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.strip())
        except ValueError:
            raise ConfigError("ip", f"{text!r} is not an IPv4 or IPv6 address") from None
        if str(ip) not in result:
            result.append(str(ip))
    return tuple(result)


def address_rdtype(address: str) -> dns.rdatatype.RdataType:
    return A if ipaddress.ip_address(address).version == 4 else AAAA


def plan_claim(
    zone: dns.name.Name,
    name: dns.name.Name,
    ttl: int,
    owner: str,
    records: Mapping[dns.rdatatype.RdataType, Sequence[str]],
    current_txt: dns.rrset.RRset | None,
) -> dns.update.UpdateMessage:
    """Take a free name (prerequisite: name not in use) or change our own (prerequisite: the
    exact TXT RRset we read).  Every type in `records` is replaced by the given rdata."""
    msg = dns.update.UpdateMessage(zone)
    if current_txt is None:
        msg.absent(name)
        msg.add(name, ttl, TXT, _quoted(marker(owner)))
    else:
        msg.present(name, _prerequisite(current_txt))
    for rdtype, values in records.items():
        msg.delete(name, rdtype)
        for value in values:
            msg.add(name, ttl, rdtype, value)
    return msg


def plan_release(
    zone: dns.name.Name,
    name: dns.name.Name,
    current_txt: dns.rrset.RRset,
    owner: str,
    rdtypes: Iterable[dns.rdatatype.RdataType],
) -> dns.update.UpdateMessage:
    """Remove our records at a name we own (prerequisite: the exact TXT RRset we read)."""
    msg = dns.update.UpdateMessage(zone)
    msg.present(name, _prerequisite(current_txt))
    for rdtype in rdtypes:
        msg.delete(name, rdtype)
    msg.delete(name, TXT, _quoted(marker(owner)))
    return msg


def _prerequisite(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """The RRset as a value-dependent prerequisite: TTL 0 (RFC 2136 2.4.2; BIND: FORMERR)."""
    return dns.rrset.from_rdata_list(rrset.name, 0, list(rrset))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Owner(Enum):
    FREE = "free"
    OURS = "ours"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class NameState:
    name: dns.name.Name
    exists: bool
    txt: dns.rrset.RRset | None

    def owner(self) -> str | None:
        return marker_owner(self.txt)

    def ownership(self, owner: str | None) -> Owner:
        """FREE, OURS (marker for owner; any provision marker when owner is None) or FOREIGN."""
        if not self.exists:
            return Owner.FREE
        found = self.owner()
        if found is not None and (owner is None or found == owner):
            return Owner.OURS
        return Owner.FOREIGN

    def describe_holder(self) -> str:
        found = self.owner()
        return f"owner {found}" if found else "records not managed by provision"


@dataclass
class Result:
    fqdn: str
    changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_state(client: DnsClient, name: dns.name.Name) -> NameState:
    answer = client.query(name, TXT)
    txt = next((r for r in answer.answer if r.name == name and r.rdtype == TXT), None)
    return NameState(name, answer.rcode() != dns.rcode.NXDOMAIN, txt)


def read_addresses(client: DnsClient, name: dns.name.Name) -> list[str]:
    found: list[str] = []
    for rdtype in (A, AAAA):
        rrset = client.rrset(name, rdtype)
        found.extend(rdata.to_text() for rdata in rrset or ())
    return found


def _send(client: DnsClient, msg: dns.update.UpdateMessage, name: dns.name.Name) -> None:
    rcode = client.update(msg)
    if rcode != dns.rcode.NOERROR:
        raise DnsConflict(
            f"{name}: changed by someone else while updating ({dns.rcode.to_text(rcode)}); "
            "nothing overwritten, try again"
        )


def _conflict(state: NameState, fqdn: dns.name.Name) -> DnsConflict:
    if state.name == fqdn:
        hint = f"free it first, e.g. `provision dns remove {fqdn.to_text(omit_final_dot=True)}`"
    else:
        hint = "remove the host that holds this address first"
    return DnsConflict(
        f"{state.name} is held by {state.describe_holder()}; not overwritten ({hint})"
    )


def register_host(settings: DnsSettings, host: str, addresses: Iterable[str], owner: str) -> Result:
    """Point HOST at addresses (A/AAAA, PTR where a reverse zone is configured); idempotent.

    A reinstall with other addresses replaces the records and removes the stale PTRs.  Every
    name is checked before anything is changed, so a conflict changes nothing.
    """
    client = DnsClient(settings)
    zone = dns.name.from_text(settings.zone)
    name = fqdn_for(host, settings.zone)
    ips = parse_addresses(addresses)
    if not ips:
        raise ConfigError("ip", "at least one address is needed to register a host")
    result = Result(name.to_text(omit_final_dot=True))
    forward = read_state(client, name)
    if forward.ownership(owner) is Owner.FOREIGN:
        raise _conflict(forward, name)
    old = read_addresses(client, name) if forward.exists else []
    reverse: list[tuple[str, dns.name.Name, NameState]] = []
    for ip in ips:
        rname = dns.reversename.from_address(ip)
        rzone = settings.reverse_zone_for(rname)
        if rzone is None:
            result.skipped.append(f"PTR for {ip}: no reverse zone configured")
            continue
        state = read_state(client, rname)
        if state.ownership(owner) is Owner.FOREIGN:
            raise _conflict(state, name)
        reverse.append((ip, rzone, state))

    records: dict[dns.rdatatype.RdataType, Sequence[str]] = {
        A: [ip for ip in ips if address_rdtype(ip) == A],
        AAAA: [ip for ip in ips if address_rdtype(ip) == AAAA],
    }
    if forward.exists and sorted(old) == sorted(ips):
        log.debug("%s already points at %s", name, ", ".join(ips))
    else:
        _send(client, plan_claim(zone, name, settings.ttl, owner, records, forward.txt), name)
        result.changes.append(f"{result.fqdn}: {' '.join(ips)}")
    for ip in old:
        if ip not in ips:
            _release_ptr(client, settings, ip, owner, result)
    for ip, rzone, state in reverse:
        ptr = client.rrset(state.name, PTR) if state.exists else None
        if ptr is not None and [r.to_text() for r in ptr] == [name.to_text()]:
            continue  # already right
        ptrs = {PTR: [name.to_text()]}
        _send(client, plan_claim(rzone, state.name, settings.ttl, owner, ptrs, state.txt), name)
        result.changes.append(f"PTR {ip} -> {result.fqdn}")
    return result


def _release_ptr(
    client: DnsClient, settings: DnsSettings, ip: str, owner: str, result: Result
) -> None:
    rname = dns.reversename.from_address(ip)
    rzone = settings.reverse_zone_for(rname)
    if rzone is None:
        return
    state = read_state(client, rname)
    if state.ownership(owner) is not Owner.OURS or state.txt is None:
        log.info("leaving %s alone: held by %s", rname, state.describe_holder())
        return
    _send(client, plan_release(rzone, rname, state.txt, owner, [PTR]), rname)
    result.changes.append(f"removed PTR {ip}")


def remove_host(settings: DnsSettings, host: str, owner: str | None = None) -> Result:
    """Remove HOST's A/AAAA, PTR and ownership records; a name that is gone already is fine.

    With owner None any provision-managed name is removed; records provision does not manage
    (no ownership TXT) or, with an owner, another host's records are never touched.
    """
    client = DnsClient(settings)
    zone = dns.name.from_text(settings.zone)
    name = fqdn_for(host, settings.zone)
    result = Result(name.to_text(omit_final_dot=True))
    forward = read_state(client, name)
    if not forward.exists:
        return result
    if forward.ownership(owner) is not Owner.OURS or forward.txt is None:
        raise _conflict(forward, name)
    held_by = forward.owner()
    assert held_by is not None
    old = read_addresses(client, name)
    _send(client, plan_release(zone, name, forward.txt, held_by, [A, AAAA]), name)
    result.changes.append(f"removed {result.fqdn}")
    for ip in old:
        _release_ptr(client, settings, ip, held_by, result)
    return result
