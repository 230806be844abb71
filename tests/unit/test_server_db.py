"""The SQLite base for many HTTP threads: a connection per thread, WAL, no lock of ours,
transactions that stay atomic without one."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from provision.errors import NotFound
from provision.hosts import EventKind
from provision.server.orders import OrderQueue
from provision.server.sessions import SessionKind, Sessions
from provision.server.store import Store


def test_each_thread_has_its_own_connection_in_wal_mode(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    store.upsert_host("52:54:00:00:00:01", profile="p")
    seen: dict[str, sqlite3.Connection] = {}

    def reader(name: str) -> None:
        assert store.host("52:54:00:00:00:01").profile == "p"
        seen[name] = store._db

    threads = [threading.Thread(target=reader, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen.values()} | {id(store._db)}) == 5
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.hosts()


def test_every_api_lookup_uses_an_index(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    lookups = [
        ("SELECT * FROM hosts WHERE mac = ?", ("m",)),
        ("SELECT * FROM hosts WHERE token = ?", ("t",)),
        ("SELECT * FROM hosts ORDER BY hostname, mac", ()),
        ("SELECT * FROM events WHERE mac = ? AND id > ? ORDER BY id", ("m", 0)),
        ("SELECT key, value FROM host_settings WHERE mac = ?", ("m",)),
    ]
    for sql, args in lookups:
        plan = " ".join(r[3] for r in store._db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "USING" in plan and "TEMP B-TREE" not in plan, (sql, plan)
    store.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    mac = "52:54:00:00:00:02"
    store.upsert_host(mac, profile="p")

    def writer() -> None:
        for _ in range(25):
            store.add_event(mac, EventKind.PROGRESS, step="packages")

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.events(mac)) == 200
    store.close()


def test_an_order_is_claimed_once(tmp_path: Path) -> None:
    queue = OrderQueue.in_data_dir(tmp_path)
    for _ in range(20):
        queue.create("p", "iso")
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while (order := queue.claim_next()) is not None:
            with lock:
                claimed.append(order.id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20
    queue.close()


def test_a_host_and_its_events_come_back_exactly_in_one_query(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    mac = "52:54:00:00:00:01"
    store.upsert_host(mac, profile="p")
    store.upsert_host("52:54:00:00:00:02", profile="p")
    store.add_event("52:54:00:00:00:02", EventKind.START)
    for progress in (None, 0.1, 1 / 3, 1.0):
        store.add_event(mac, EventKind.PROGRESS, step="s\n\"'", message="é ✓", progress=progress)
    store._db.execute("UPDATE events SET progress = 1e30 WHERE id = 3")  # stored long ago
    host, events = store.host_with_events(mac)
    assert host == store.host(mac) and events == store.events(mac) and len(events) == 4
    assert [e.progress for e in events] == [None, None, 1 / 3, 1.0]
    first = events[0].id
    assert store.host_with_events(mac, after=first)[1] == store.events(mac, after=first)
    assert store.host_with_events(mac, after=10**6)[1] == []
    with pytest.raises(NotFound):
        store.host_with_events("52:54:00:00:00:03")


def test_a_found_session_is_remembered_for_a_second_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    server, cli = Sessions.in_data_dir(tmp_path), Sessions.in_data_dir(tmp_path)
    secret, opened = server.open(SessionKind.API, lifetime=60, address="", tag="t")
    assert server.find(secret, tag="t") == opened
    cli.revoke_all()  # another process: the server may go on believing it for a moment
    clock[0] += 0.5
    assert server.find(secret, tag="t") == opened
    assert server.find(secret, tag="other") is None  # the password tag is checked every time
    clock[0] += 0.5
    assert server.find(secret, tag="t") is None
    mine, _ = server.open(SessionKind.API, lifetime=60, address="", tag="t")
    assert server.find(mine, tag="t") is not None
    server.revoke(mine)  # this process: at once
    assert server.find(mine, tag="t") is None
    for n in range(5):
        assert server.find(f"unknown-{n}", tag="t") is None
    assert server._recent == {}  # what was not found is not kept
