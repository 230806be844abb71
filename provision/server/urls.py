"""Which server URL a client is given (boot scripts, host config): the one it actually used.

A machine that reached the server as http://10.0.2.2:8080 must be told to fetch its kernel, key
and image from there, not from the configured base_url (loopback in the demo).  In order:

1. the request's own scheme and Host header, when that name is one the server answers to
   (`server_names` in server.toml, or base_url's own host) — behind a trusted proxy these are
   the proxy's X-Forwarded-Proto/-Host (provision.server.proxy);
2. the `[[networks]]` entry whose network holds the client's address;
3. base_url.
A loopback URL is never handed to a client that is not itself on loopback: when nothing else
fits, there is no answer (None) and the route says what to configure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from provision.errors import ConfigError
from provision.server.settings import ServerSettings, check_server_name

DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(host: str, scheme: str) -> tuple[str, int] | None:
    """'Name:port' of a Host header -> (lower-case name, port); None when malformed."""
    try:
        text = check_server_name("host", host.strip())
    except ConfigError:
        return None
    if text.startswith("["):
        name, _, rest = text[1:].partition("]")
        port = rest[1:]
    else:
        name, _, port = text.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    return name, int(port) if port else DEFAULT_PORTS.get(scheme, 80)


def is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def name_allowed(host: tuple[str, int], names: Iterable[str], scheme: str) -> bool:
    """A configured name without a port allows every port; with one, only that port."""
    for entry in names:
        parsed = split_host(entry, scheme)
        if parsed is None:
            continue
        if parsed[0] == host[0] and (":" not in entry.rsplit("]", 1)[-1] or parsed[1] == host[1]):
            return True
    return False


def base_url_name(base_url: str) -> str:
    """The host[:port] of base_url, as a server name entry (with its port, explicit or not)."""
    parts = urlsplit(base_url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    name = parts.hostname or ""
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def client_base_url(
    settings: ServerSettings, *, scheme: str, host: str, remote_addr: str, prefix: str = ""
) -> str | None:
    """Pure: the base URL to give this client, or None when none may be given (see above)."""
    client_local = is_loopback(remote_addr)
    parsed = split_host(host, scheme) if scheme in DEFAULT_PORTS else None
    names = (*settings.server_names, base_url_name(settings.base_url))
    if (
        parsed is not None
        and name_allowed(parsed, names, scheme)
        and (client_local or not is_loopback(parsed[0]))
    ):
        return f"{scheme}://{host.strip().lower()}{prefix.rstrip('/')}"
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        address = None
    for net in settings.networks:
        if address is not None and address in net.network:
            return net.base_url
    base_host = urlsplit(settings.base_url).hostname or ""
    if client_local or not is_loopback(base_host):
        return settings.base_url.rstrip("/")
    return None


def unknown_address_message(host: str) -> str:
    """Says what to configure; the Host header only with its harmless characters (this text
    also goes into an iPXE `echo`)."""
    shown = "".join(c for c in host[:100] if c.isascii() and (c.isalnum() or c in ".:-[]"))
    return (
        f"this server does not know the address this client reached it by (Host: {shown})"
        " and its base_url is loopback: add the name to server_names, or a [[networks]] entry"
        " for the client's network, in the server's server.toml"
    )
