"""The retry queue file: coalescing, atomic rewrite, retry bookkeeping (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.dns.errors import DnsConflict, DnsUnavailable
from provision.dns.hooks import on_host_installed, retry_pending
from provision.dns.queue import Entry, RetryQueue
from provision.dns.settings import DnsSettings
from provision.errors import ConfigError

SETTINGS = DnsSettings(server="127.0.0.1", zone="example.test", key_name="k", key_secret="c2VjcmV0")


def test_add_coalesces_per_host(tmp_path: Path) -> None:
    q = RetryQueue.in_data_dir(tmp_path)
    q.add(Entry("register", "web1", ("192.0.2.1",), "o1"))
    q.add(Entry("register", "web2", ("192.0.2.2",), "o2"))
    q.add(Entry("remove", "web1", (), "o1"))  # the latest intent for web1 wins
    assert [(e.op, e.host) for e in q.entries()] == [("register", "web2"), ("remove", "web1")]
    raw = json.loads((tmp_path / "dns-queue.json").read_text())
    assert raw["version"] == 1 and len(raw["entries"]) == 2
    assert (tmp_path / "dns-queue.json").stat().st_mode & 0o777 == 0o600
    assert q.drop("web2") and not q.drop("web2")
    assert [e.host for e in q.entries()] == ["web1"]


def test_retry_drops_done_and_counts_failures(tmp_path: Path) -> None:
    q = RetryQueue.in_data_dir(tmp_path)
    q.add(Entry("register", "ok", ("192.0.2.1",), "o"))
    q.add(Entry("register", "down", ("192.0.2.2",), "o"))
    q.add(Entry("register", "taken", ("192.0.2.3",), "o"))
    seen: list[str] = []

    def perform(settings: DnsSettings, entry: Entry) -> None:
        seen.append(entry.host)
        if entry.host == "down":
            raise DnsUnavailable("connection refused")
        if entry.host == "taken":
            raise DnsConflict("held by owner x")

    report = q.retry(SETTINGS, perform)
    assert seen == ["ok", "down", "taken"]
    assert [e.host for e in report.done] == ["ok"]
    assert [(e.host, e.attempts, e.last_error) for e in q.entries()] == [
        ("down", 1, "connection refused"),
        ("taken", 1, "held by owner x"),
    ]


def test_entry_replaced_during_retry_is_kept(tmp_path: Path) -> None:
    q = RetryQueue.in_data_dir(tmp_path)
    q.add(Entry("register", "web1", ("192.0.2.1",), "o"))

    def perform(settings: DnsSettings, entry: Entry) -> None:
        q.add(Entry("register", "web1", ("192.0.2.9",), "o"))  # a newer request arrives

    q.retry(SETTINGS, perform)
    assert [e.addresses for e in q.entries()] == [("192.0.2.9",)]


def test_corrupt_queue_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dns-queue.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"dns-queue\.json: unreadable DNS retry queue"):
        RetryQueue.in_data_dir(tmp_path).entries()


def test_hooks_do_nothing_without_dns_toml(tmp_path: Path) -> None:
    assert on_host_installed(tmp_path, "web1", ["192.0.2.1"], mac="52:54:00:00:00:01") is None
    assert retry_pending(tmp_path) is None
    assert not (tmp_path / "dns-queue.json").exists()
