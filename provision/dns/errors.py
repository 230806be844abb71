"""DNS errors: every failure the admin can act on is one of these (all ProvisionErrors)."""

from __future__ import annotations

from provision.errors import ProvisionError


class DnsError(ProvisionError):
    """A DNS operation failed."""


class DnsUnavailable(DnsError):
    """The DNS server did not answer (down, unreachable, timed out): worth retrying later."""


class DnsRefused(DnsError):
    """The server answered but refused (not authoritative for the zone, update not allowed)."""


class DnsAuthError(DnsError):
    """The server rejected the TSIG key (unknown key name, wrong secret or algorithm)."""


class DnsConflict(DnsError):
    """A name is held by another host or by records provision does not manage."""


class DiscoveryError(DnsError):
    """No provisioning server could be found through DNS SRV."""
