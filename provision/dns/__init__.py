"""DNS: find the provisioning server by SRV, register installed hosts with RFC 2136 + TSIG.

Modules: settings (DnsSettings from dns.toml), resolvconf (pure resolv.conf parser), discover
(RFC 2782 selection, discover_server), client (the one place that talks to the DNS server),
register (pure update planning + thin applier), queue (retry queue), check (`dns check`).
"""
