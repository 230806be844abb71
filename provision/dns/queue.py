"""Retry queue for DNS registrations that failed (DNS down, key rejected...).

One JSON file in the data dir (DATA_DIR/dns-queue.json), rewritten atomically under an flock.
One entry per host: a newer request for the same host replaces the older one (the latest intent
wins: a removal queued after a registration cancels it).  `retry()` is what `provision dns
retry` and the server loop call; it sends with the settings of the time of the retry, so a fixed
key takes effect.
"""

from __future__ import annotations

import fcntl
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from provision.dns.errors import DnsError
from provision.dns.register import Result, register_host, remove_host
from provision.dns.settings import DnsSettings
from provision.errors import ConfigError
from provision.fsutil import write_atomic

log = logging.getLogger(__name__)

QUEUE_NAME = "dns-queue.json"
Op = Literal["register", "remove"]


@dataclass(frozen=True)
class Entry:
    op: Op
    host: str
    addresses: tuple[str, ...] = ()
    owner: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    queued_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    attempts: int = 0
    last_error: str = ""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        if raw.get("op") not in ("register", "remove") or not isinstance(raw.get("host"), str):
            raise ValueError(f"bad entry {raw!r}")
        return cls(
            op=raw["op"],
            host=raw["host"],
            addresses=tuple(str(a) for a in raw.get("addresses", ())),
            owner=raw.get("owner"),
            id=str(raw["id"]),
            queued_at=str(raw.get("queued_at", "")),
            attempts=int(raw.get("attempts", 0)),
            last_error=str(raw.get("last_error", "")),
        )


@dataclass
class RetryReport:
    done: list[Entry] = field(default_factory=list)
    failed: list[Entry] = field(default_factory=list)  # with attempts and last_error updated


Perform = Callable[[DnsSettings, Entry], object]


def perform(settings: DnsSettings, entry: Entry) -> Result:
    if entry.op == "register":
        assert entry.owner is not None
        return register_host(settings, entry.host, entry.addresses, entry.owner)
    return remove_host(settings, entry.host, entry.owner)


class RetryQueue:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> RetryQueue:
        return cls(data_dir / QUEUE_NAME)

    @contextmanager
    def _locked(self) -> Iterator[list[Entry]]:
        """Hold the lock; yield the entries; write them back (atomically) if changed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            entries = self._read()
            before = list(entries)
            yield entries
            if entries != before:
                data = {"version": 1, "entries": [asdict(e) for e in entries]}
                write_atomic(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def _read(self) -> list[Entry]:
        try:
            raw = json.loads(self.path.read_text())
            return [Entry.from_json(e) for e in raw["entries"]]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(str(self.path), f"unreadable DNS retry queue: {exc}") from exc

    def entries(self) -> list[Entry]:
        with self._locked() as entries:
            return list(entries)

    def add(self, entry: Entry) -> Entry:
        """Queue entry, replacing any older entry for the same host."""
        with self._locked() as entries:
            entries[:] = [e for e in entries if e.host != entry.host] + [entry]
        log.info("queued DNS %s of %s for retry", entry.op, entry.host)
        return entry

    def drop(self, host: str) -> bool:
        with self._locked() as entries:
            kept = [e for e in entries if e.host != host]
            dropped = len(kept) != len(entries)
            entries[:] = kept
        return dropped

    def retry(self, settings: DnsSettings, run: Perform = perform) -> RetryReport:
        """Try every queued entry once; drop the ones that worked, record why others failed.

        The network work happens outside the lock; an entry replaced meanwhile (new id) is
        left as it is.
        """
        report = RetryReport()
        for entry in self.entries():
            try:
                run(settings, entry)
            except DnsError as exc:
                failed = replace(entry, attempts=entry.attempts + 1, last_error=str(exc))
                report.failed.append(failed)
                log.warning("DNS %s of %s still failing: %s", entry.op, entry.host, exc)
            else:
                report.done.append(entry)
        with self._locked() as entries:
            done = {e.id for e in report.done}
            updated = {e.id: e for e in report.failed}
            entries[:] = [updated.get(e.id, e) for e in entries if e.id not in done]
        return report
