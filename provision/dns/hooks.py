"""What the server calls when a host finishes installing or is decommissioned.

These never raise a DnsError: the install completes whatever DNS does.  A failed update is
queued (DATA_DIR/dns-queue.json) and retried by `provision dns retry` or `retry_pending()` from
the server loop.  Without DATA_DIR/dns.toml, DNS registration is off and they do nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from provision.dns.errors import DnsError
from provision.dns.queue import Entry, RetryQueue, RetryReport, perform
from provision.dns.register import owner_id, parse_addresses
from provision.dns.settings import DnsSettings, default_path, load_dns_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    done: bool  # True: DNS is up to date; False: queued for retry (see error)
    error: str = ""
    changes: tuple[str, ...] = ()


def submit(settings: DnsSettings, queue: RetryQueue, entry: Entry) -> Outcome:
    """Perform entry now; on any DNS failure queue it and report why."""
    try:
        result = perform(settings, entry)
    except DnsError as exc:
        log.warning("DNS %s of %s failed, queued for retry: %s", entry.op, entry.host, exc)
        queue.add(replace(entry, attempts=1, last_error=str(exc)))
        return Outcome(False, str(exc))
    queue.drop(entry.host)  # a newer success supersedes anything queued for this host
    return Outcome(True, changes=tuple(result.changes))


def register_or_queue(
    settings: DnsSettings, queue: RetryQueue, host: str, addresses: Iterable[str], owner: str
) -> Outcome:
    return submit(settings, queue, Entry("register", host, parse_addresses(addresses), owner))


def remove_or_queue(
    settings: DnsSettings, queue: RetryQueue, host: str, owner: str | None
) -> Outcome:
    return submit(settings, queue, Entry("remove", host, (), owner))


def _configured(data_dir: Path) -> DnsSettings | None:
    path = default_path(data_dir)
    return load_dns_settings(path) if path.is_file() else None


def on_host_installed(
    data_dir: Path,
    host: str,
    addresses: Iterable[str],
    mac: str | None = None,
    host_id: str | None = None,
) -> Outcome | None:
    """Register an installed host (None when DNS is not configured)."""
    settings = _configured(data_dir)
    if settings is None:
        return None
    owner = owner_id(mac, host_id or host)
    return register_or_queue(settings, RetryQueue.in_data_dir(data_dir), host, addresses, owner)


def on_host_decommissioned(
    data_dir: Path, host: str, mac: str | None = None, host_id: str | None = None
) -> Outcome | None:
    settings = _configured(data_dir)
    if settings is None:
        return None
    owner = owner_id(mac, host_id or host)
    return remove_or_queue(settings, RetryQueue.in_data_dir(data_dir), host, owner)


def retry_pending(data_dir: Path) -> RetryReport | None:
    """Retry queued updates (for the server loop); None when DNS is not configured."""
    settings = _configured(data_dir)
    if settings is None:
        return None
    return RetryQueue.in_data_dir(data_dir).retry(settings)


def host_installed_safely(
    data_dir: Path, host: str, addresses: Iterable[str], mac: str | None = None
) -> Outcome | None:
    """on_host_installed for the server's finish event: never raises (a bad dns.toml or an
    unexpected error is logged; a DNS failure is queued by on_host_installed itself)."""
    try:
        outcome = on_host_installed(data_dir, host, addresses, mac=mac)
    except Exception:  # the install is done whatever happens here
        log.exception("DNS registration of %s failed", host)
        return None
    if outcome is not None and outcome.done:
        log.info("DNS: registered %s (%s)", host, "; ".join(outcome.changes) or "unchanged")
    return outcome


def host_decommissioned_safely(data_dir: Path, host: str, mac: str | None = None) -> Outcome | None:
    """on_host_decommissioned for the server's host deletion: never raises."""
    if not host:
        return None
    try:
        return on_host_decommissioned(data_dir, host, mac=mac)
    except Exception:  # forgetting a host must work whatever DNS does
        log.exception("DNS removal of %s failed", host)
        return None


def retry_loop(data_dir: Path, stop: threading.Event, interval: float = 60.0) -> None:
    """What `provision serve` runs in a thread while dns.toml exists: retry_pending every
    `interval` seconds until stop is set; failures are logged, never raised."""
    while not stop.wait(interval):
        try:
            report = retry_pending(data_dir)
        except Exception:
            log.exception("DNS retry failed")
            continue
        for entry in report.done if report is not None else ():
            log.info("DNS retry: %s of %s done", entry.op, entry.host)
