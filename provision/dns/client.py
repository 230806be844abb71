"""The one place that talks to the primary DNS server: TSIG-signed queries and updates over TCP.

Every transport or protocol failure becomes a DnsError subclass with one clear line:
DnsUnavailable (down, timed out: retry later), DnsAuthError (key rejected), DnsRefused.
"""

from __future__ import annotations

import logging

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update

from provision.dns.errors import DnsAuthError, DnsError, DnsRefused, DnsUnavailable
from provision.dns.settings import DnsSettings

log = logging.getLogger(__name__)

# Update answers that mean "a prerequisite did not hold" (RFC 2136 section 3.2.1).
PREREQ_FAILED = frozenset(
    {dns.rcode.YXDOMAIN, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.NXRRSET}
)


class DnsClient:
    def __init__(self, settings: DnsSettings) -> None:
        self.settings = settings

    @property
    def where(self) -> str:
        return f"DNS server {self.settings.server} port {self.settings.port}"

    def _send(self, msg: dns.message.Message) -> dns.message.Message:
        msg.use_tsig(self.settings.tsig_key)
        s = self.settings
        key = f"TSIG key '{s.key_name}' ({s.key_algorithm})"
        try:
            return dns.query.tcp(msg, s.server, timeout=s.timeout, port=s.port)
        except dns.tsig.PeerBadKey:
            raise DnsAuthError(
                f"{self.where} does not know {key} (BADKEY): check key_name and key_algorithm"
            ) from None
        except dns.tsig.PeerBadSignature:
            raise DnsAuthError(
                f"{self.where} rejected the signature of {key} (BADSIG): check key_secret"
            ) from None
        except dns.tsig.PeerBadTime:
            raise DnsAuthError(
                f"{self.where} rejected {key} (BADTIME): the clocks differ too much"
            ) from None
        except (dns.tsig.BadSignature, dns.message.UnknownTSIGKey, dns.tsig.PeerError) as exc:
            raise DnsAuthError(f"{self.where}: TSIG failure with {key}: {exc}") from None
        except dns.exception.Timeout:
            raise DnsUnavailable(f"{self.where}: no answer within {s.timeout:g} s") from None
        except ConnectionRefusedError:
            raise DnsUnavailable(f"{self.where}: connection refused (is it running?)") from None
        except (OSError, EOFError) as exc:
            raise DnsUnavailable(f"{self.where}: {exc or type(exc).__name__}") from None
        except dns.exception.DNSException as exc:
            raise DnsError(f"{self.where}: bad answer: {exc}") from None

    def query(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """Ask the primary directly (no recursion); raise on anything but NOERROR/NXDOMAIN."""
        msg = dns.message.make_query(name, rdtype)
        msg.flags &= ~dns.flags.RD
        answer = self._send(msg)
        rcode = answer.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return answer
        if rcode == dns.rcode.SERVFAIL:
            raise DnsUnavailable(f"{self.where}: SERVFAIL for {name} {rdtype.name}")
        raise DnsRefused(f"{self.where} answered {dns.rcode.to_text(rcode)} for {name}")

    def rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        """The RRset at name (None when the name or the type does not exist)."""
        answer = self.query(name, rdtype)
        for rrset in answer.answer:
            if rrset.name == name and rrset.rdtype == rdtype:
                return rrset
        return None

    def update(self, msg: dns.update.UpdateMessage) -> dns.rcode.Rcode:
        """Send an update; return NOERROR or the prerequisite-failure rcode, raise otherwise."""
        zone = msg.origin
        answer = self._send(msg)
        rcode = answer.rcode()
        if rcode == dns.rcode.NOERROR or rcode in PREREQ_FAILED:
            log.debug("update of %s: %s", zone, dns.rcode.to_text(rcode))
            return rcode
        if rcode == dns.rcode.REFUSED:
            raise DnsRefused(
                f"{self.where} refused the update of zone {zone} with key "
                f"'{self.settings.key_name}' (is the key in the zone's allow-update/update-policy?)"
            )
        if rcode == dns.rcode.NOTAUTH:
            raise DnsRefused(f"{self.where} is not authoritative (primary) for zone {zone}")
        if rcode == dns.rcode.NOTZONE:
            raise DnsRefused(f"{self.where}: a name in the update is not inside zone {zone}")
        if rcode == dns.rcode.SERVFAIL:
            raise DnsUnavailable(f"{self.where}: SERVFAIL while updating zone {zone}")
        raise DnsRefused(f"{self.where} answered {dns.rcode.to_text(rcode)} updating zone {zone}")
