"""Behind a reverse proxy (nginx terminating TLS): X-Forwarded-* honoured from trusted peers only.

Requests from an address in `trusted_proxies` (server.toml) go through werkzeug's ProxyFix for
one hop: the client's address, scheme (https), Host and path prefix are the ones the proxy saw,
so generated URLs, redirects and Secure cookies are right.  From anyone else the forwarding
headers are dropped: a client talking to the server directly cannot claim to be https.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from provision.server.settings import IPNetwork

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FORWARDED = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
)


def peer_trusted(remote_addr: str, trusted: Iterable[IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in net for net in trusted)


class TrustedProxy:
    """WSGI middleware: ProxyFix (one hop) for trusted peers, forwarding headers removed else."""

    def __init__(self, app: WSGIApplication, trusted: tuple[IPNetwork, ...]) -> None:
        self.app = app
        self.trusted = trusted
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes] | Iterator[bytes]:
        if self.trusted and peer_trusted(environ.get("REMOTE_ADDR", ""), self.trusted):
            return self.fixed(environ, start_response)
        for key in FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)
