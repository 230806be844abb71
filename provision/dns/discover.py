"""Find the provisioning server through DNS SRV (`_provision._tcp.DOMAIN`, RFC 2782).

A TXT record at the same name may carry `key=value` hints (RFC 6763 style); `profile=NAME`
suggests the profile to install.  The kernel command line (`provision.server=URL`) wins over DNS.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from provision.dns.errors import DiscoveryError
from provision.dns.resolvconf import RESOLV_CONF, parse_resolv_conf
from provision.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE = "_provision._tcp"
RandInt = Callable[[int, int], int]  # like random.randint: an integer in [a, b] inclusive


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # without the trailing dot


def order_srv(records: Iterable[SrvRecord], randint: RandInt = random.randint) -> list[SrvRecord]:
    """Order SRV records as RFC 2782 says a client tries them.

    Lowest priority first; within one priority a weighted random order: records of weight 0
    go to the front, a random number between 0 and the sum of the weights picks the first record
    whose running sum reaches it, and that is repeated on the records left.  A lone target "."
    means "decidedly not available": such records are dropped.
    """
    usable = [r for r in records if r.target not in ("", ".")]
    result: list[SrvRecord] = []
    for priority in sorted({r.priority for r in usable}):
        # zero weights first (RFC 2782), then a fixed order so that the result depends only
        # on the random numbers, not on the order the server listed the records in
        left = sorted(
            (r for r in usable if r.priority == priority),
            key=lambda r: (r.weight != 0, r.target.lower(), r.port),
        )
        while left:
            total = sum(r.weight for r in left)
            pick = randint(0, total)
            if not 0 <= pick <= total:
                raise ValueError(f"randint(0, {total}) returned {pick}")
            running = 0
            for index, record in enumerate(left):
                running += record.weight
                if running >= pick:
                    result.append(left.pop(index))
                    break
    return result


def parse_txt_hints(strings: Iterable[bytes]) -> dict[str, str]:
    """`key=value` strings of a TXT record into a dict (first one wins; others are ignored)."""
    hints: dict[str, str] = {}
    for raw in strings:
        text = raw.decode("utf-8", errors="replace").strip()
        key, sep, value = text.partition("=")
        if sep and key.strip() and key.strip().lower() not in hints:
            hints[key.strip().lower()] = value.strip()
    return hints


def server_url(record: SrvRecord) -> str:
    host = record.target
    if ":" in host:  # an IPv6 literal (not proper SRV, but be kind)
        host = f"[{host}]"
    return f"http://{host}:{record.port}"


@dataclass(frozen=True)
class ResolverConfig:
    """Where to ask and which domains to try (from resolv.conf, or given)."""

    nameservers: tuple[str, ...]
    search: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.nameservers:
            raise ConfigError("nameserver", "no nameserver to ask (none in resolv.conf or given)")


def parse_nameserver(text: str) -> tuple[str, int | None]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` into (ip, port or None)."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError("nameserver", f"{text!r} is not IP, IP:PORT or [IPv6]:PORT") from None
    if port is None:
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError("nameserver", f"{text!r}: port must be 1-65535")
    return host, int(port)


def load_resolver_config(
    resolv_conf: Path = RESOLV_CONF,
    nameserver: str | None = None,
    search: Sequence[str] = (),
) -> ResolverConfig:
    """A ResolverConfig from resolv.conf, with the nameserver and search list overridable."""
    text = resolv_conf.read_text() if resolv_conf.is_file() else ""
    parsed = parse_resolv_conf(text)
    servers, port = parsed.nameservers, 53
    if nameserver:
        ip, given_port = parse_nameserver(nameserver)
        servers, port = (ip,), given_port or 53
    return ResolverConfig(
        nameservers=servers,
        search=tuple(search) or parsed.search,
        port=port,
        timeout=parsed.timeout or 5.0,
    )


@dataclass(frozen=True)
class Discovery:
    servers: list[str]  # URLs in the order to try them
    profile_hint: str | None
    domain: str


def discover(
    domain: str | None, config: ResolverConfig, randint: RandInt = random.randint
) -> Discovery:
    """Look up `_provision._tcp.DOMAIN` (or each search domain in turn) and order the targets."""
    domains = [domain] if domain else list(config.search)
    if not domains:
        raise DiscoveryError(
            "no domain to search for _provision._tcp (no search/domain line in resolv.conf); "
            "give one, or set provision.server=URL on the kernel command line"
        )
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(config.nameservers)
    resolver.port = config.port
    resolver.timeout = config.timeout
    resolver.lifetime = config.timeout
    tried: list[str] = []
    for dom in domains:
        name = dns.name.from_text(f"{SERVICE}.{dom.rstrip('.')}.")
        try:
            answer = resolver.resolve(name, dns.rdatatype.SRV, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            tried.append(f"{name}: no SRV record")
            continue
        except dns.resolver.NoNameservers as exc:
            tried.append(f"{name}: {exc}")
            continue
        except dns.exception.Timeout:
            raise DiscoveryError(
                f"no answer from nameserver {', '.join(config.nameservers)} port {config.port} "
                f"within {config.timeout:g} s looking up {name}"
            ) from None
        records = [
            SrvRecord(rr.priority, rr.weight, rr.port, rr.target.to_text(omit_final_dot=True))
            for rr in answer
        ]
        ordered = order_srv(records, randint)
        if not ordered:
            raise DiscoveryError(f"{name}: SRV target '.' says the service is not available here")
        return Discovery([server_url(r) for r in ordered], _profile_hint(resolver, name), dom)
    raise DiscoveryError(
        "no provisioning server found through DNS ("
        + "; ".join(tried)
        + "); publish the SRV record or set provision.server=URL on the kernel command line"
    )


def _profile_hint(resolver: dns.resolver.Resolver, name: dns.name.Name) -> str | None:
    try:
        answer = resolver.resolve(name, dns.rdatatype.TXT, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as exc:
        log.warning("TXT lookup for %s failed, no profile hint: %s", name, exc)
        return None
    strings = [s for rr in answer for s in rr.strings]
    return parse_txt_hints(strings).get("profile") or None


def discover_server(
    domain: str | None, resolver_config: ResolverConfig, randint: RandInt = random.randint
) -> tuple[str, str | None]:
    """(server URL, profile hint or None): the first server in RFC 2782 order."""
    found = discover(domain, resolver_config, randint)
    return found.servers[0], found.profile_hint


def parse_cmdline(cmdline: str) -> dict[str, str]:
    """`provision.*=value` parameters of a kernel command line (prefix removed)."""
    params: dict[str, str] = {}
    for word in cmdline.split():
        key, sep, value = word.partition("=")
        if sep and key.startswith("provision."):
            params[key.removeprefix("provision.")] = value
    return params


def locate_server(cmdline: str, resolver_config: ResolverConfig) -> tuple[str, str | None]:
    """The installer's rule: `provision.server=` on the kernel command line, else DNS SRV.

    `provision.domain=` picks the domain to search, `provision.profile=` wins over a TXT hint.
    """
    params = parse_cmdline(cmdline)
    if params.get("server"):
        return params["server"], params.get("profile") or None
    url, hint = discover_server(params.get("domain") or None, resolver_config)
    return url, params.get("profile") or hint
