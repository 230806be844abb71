"""`provision dns check`: the zones exist on the server and the key may update them."""

from __future__ import annotations

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import dns.update

from provision.dns.client import DnsClient
from provision.dns.errors import DnsRefused
from provision.dns.settings import DnsSettings

PROBE = "_provision-check"


def plan_probe(zone: dns.name.Name) -> dns.update.UpdateMessage:
    """Add and delete a harmless TXT record in one update: the zone ends as it was, but the
    server has to accept the key and the update policy for it."""
    msg = dns.update.UpdateMessage(zone)
    probe = dns.name.from_text(PROBE, origin=zone)
    msg.add(probe, 0, dns.rdatatype.TXT, '"provision dns check"')
    msg.delete(probe)
    return msg


def check_zone(client: DnsClient, zone_text: str) -> str:
    zone = dns.name.from_text(zone_text)
    try:
        answer = client.query(zone, dns.rdatatype.SOA)
    except DnsRefused as exc:
        raise DnsRefused(f"{client.where} does not serve zone {zone} ({exc})") from None
    soa = next((r for r in answer.answer if r.name == zone and r.rdtype == dns.rdatatype.SOA), None)
    if soa is None or not answer.flags & dns.flags.AA:
        reason = "NXDOMAIN" if answer.rcode() == dns.rcode.NXDOMAIN else "no authoritative SOA"
        raise DnsRefused(f"{client.where} does not serve zone {zone} ({reason})")
    rcode = client.update(plan_probe(zone))
    if rcode != dns.rcode.NOERROR:  # no prerequisites: cannot happen, but do not hide it
        raise DnsRefused(f"probe update of zone {zone} answered {dns.rcode.to_text(rcode)}")
    rdata = soa[0]
    return (
        f"zone {zone_text}: ok (SOA serial {rdata.serial}, primary {rdata.mname}); "
        f"key '{client.settings.key_name}' may update it"
    )


def check_settings(settings: DnsSettings) -> list[str]:
    """One line per zone; the first problem raises a DnsError."""
    client = DnsClient(settings)
    return [check_zone(client, zone) for zone in (settings.zone, *settings.reverse_zones)]
