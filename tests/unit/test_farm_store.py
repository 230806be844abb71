"""The farm's server side without a broker: leases with fencing, uploads in chunks that resume,
and the checks that refuse an upload that does not hold together."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.errors import ConfigError, NotFound
from provision.farm.accept import accept
from provision.farm.buildproc import BuildJob
from provision.farm.model import PassState, SlotState, parse_manifest
from provision.farm.store import FarmStore, LeaseAnswer
from provision.farm.uploads import (
    FarmLayout,
    OffsetMismatch,
    Refused,
    check_received,
    have,
    needed,
    prune_signed,
    remember_signed,
    write_chunk,
)
from tests.unit.gpkg_samples import index_entry, make_gpkg, packages_index

PASS = "20261201T104016Z-f0512f"
HELLO = "app-misc/hello/hello-1.0-1.gpkg.tar"
BASE = "sys-apps/demo-base/demo-base-1.0-1.gpkg.tar"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FarmStore]:
    s = FarmStore.in_data_dir(tmp_path)
    yield s
    s.close()


def test_tokens_are_stored_hashed_and_revocable(store: FarmStore, tmp_path: Path) -> None:
    token = store.create_worker("w1")
    assert store.worker_by_token(token).name == "w1"  # type: ignore[union-attr]
    assert token.encode() not in (tmp_path / "farm.sqlite").read_bytes()
    assert (tmp_path / "farm.sqlite").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError):
        store.create_worker("w1")  # one valid token per worker
    store.revoke_worker("w1")
    assert store.worker_by_token(token) is None
    with pytest.raises(NotFound):
        store.revoke_worker("w1")
    assert store.worker_by_token(store.create_worker("w1")) is not None  # a new token


def test_a_lease_is_exclusive_until_its_holder_goes_silent(store: FarmStore) -> None:
    (slot,) = store.create_pass(PASS, "p", 1, "d", {})
    answer, held = store.lease(slot.id, "w1", "task@w1:1", ttl=60)
    assert answer is LeaseAnswer.GRANTED and held is not None and held.epoch == 1
    # a second delivery of the same task (a restored message) gets nothing while w1 beats
    assert store.lease(slot.id, "w2", "task@w2:7", ttl=60)[0] is LeaseAnswer.HELD
    assert store.lease(slot.id, "w1", "task@w1:9", ttl=60)[0] is LeaseAnswer.HELD
    assert store.beat(slot.id, "w1", held.lease)
    # silence: the reconciler takes it back, and the old holder is fenced
    assert store.expire(slot.id, before=time.time() + 1)
    answer, again = store.lease(slot.id, "w2", "task2@w2:7", ttl=60)
    assert answer is LeaseAnswer.GRANTED and again is not None and again.epoch == 2
    assert not store.beat(slot.id, "w1", held.lease)
    assert store.holder(slot.id, "w1", held.lease) is None
    assert store.holder(slot.id, "w2", again.lease) is not None
    kinds = [(e.kind, e.worker) for e in store.events(PASS) if e.kind != "refused"]
    assert kinds == [("granted", "w1"), ("expired", "w1"), ("granted", "w2")]


def test_k_of_n_slots_go_to_different_workers_and_end_with_the_pass(store: FarmStore) -> None:
    one, two = store.create_pass(PASS, "p", 2, "d", {})
    assert store.lease(one.id, "w1", "a", ttl=60)[0] is LeaseAnswer.GRANTED
    assert store.lease(two.id, "w1", "b", ttl=60)[0] is LeaseAnswer.TAKEN
    assert store.lease(two.id, "w2", "c", ttl=60)[0] is LeaseAnswer.GRANTED
    store.finish_pass(PASS, PassState.PUBLISHED)
    assert {s.state for s in store.slots(PASS)} == {SlotState.CANCELLED}
    assert store.lease(one.id, "w3", "d", ttl=60)[0] is LeaseAnswer.GONE
    assert store.lease(f"{PASS}.9", "w3", "d", ttl=60)[0] is LeaseAnswer.UNKNOWN


def test_a_revoked_worker_loses_its_leases_at_once(store: FarmStore) -> None:
    store.create_worker("w1")
    (slot,) = store.create_pass(PASS, "p", 1, "d", {})
    store.lease(slot.id, "w1", "a", ttl=60)
    store.revoke_worker("w1")
    assert store.lease(slot.id, "w2", "b", ttl=60)[0] is LeaseAnswer.GRANTED


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(files: dict[str, bytes], declared: dict[str, bytes] | None = None) -> dict:  # type: ignore[type-arg]
    declared = declared if declared is not None else files
    return {
        "files": [{"path": p, "size": len(d), "sha256": sha(d)} for p, d in declared.items()],
        "outcome": {"ok": True, "seconds": 1.0},
    }


def sample() -> dict[str, bytes]:
    hello = make_gpkg("app-misc/hello-1.0", {"/usr/bin/hello": b"\x7fELF hello"})
    base = make_gpkg("sys-apps/demo-base-1.0", {"/etc/demo-release": b"ID=demo\n"})
    index = packages_index(
        [
            index_entry("app-misc/hello-1.0", HELLO, hello),
            index_entry("sys-apps/demo-base-1.0", BASE, base),
        ]
    )
    return {"Packages": index.encode(), HELLO: hello, BASE: base}


def send(slot_dir: Path, manifest: dict, files: dict[str, bytes], chunk: int = 4096) -> None:  # type: ignore[type-arg]
    m = parse_manifest(manifest)
    for rel, data in files.items():
        for offset in range(0, max(len(data), 1), chunk):
            block = data[offset : offset + chunk]
            write_chunk(slot_dir, m, rel, offset, block, sha(block))


def test_chunks_resume_where_the_server_is(tmp_path: Path) -> None:
    layout = FarmLayout(tmp_path)
    files = sample()
    m = parse_manifest(upload(files))
    slot_dir = layout.slot_dir(PASS, 1, 1)
    first = files[HELLO][:4096]
    assert write_chunk(slot_dir, m, HELLO, 0, first, sha(first)) == 4096
    with pytest.raises(OffsetMismatch) as exc:  # the worker thinks it is at 0 again
        write_chunk(slot_dir, m, HELLO, 0, first, sha(first))
    assert exc.value.have == 4096
    with pytest.raises(ConfigError):  # a chunk that does not match its checksum
        write_chunk(slot_dir, m, HELLO, 4096, b"x" * 10, sha(b"y" * 10))
    assert {n["path"]: n["offset"] for n in needed(layout, slot_dir, m)}[HELLO] == 4096
    rest = files[HELLO][4096:]
    write_chunk(slot_dir, m, HELLO, 4096, rest, sha(rest))
    assert HELLO not in {n["path"] for n in needed(layout, slot_dir, m)}


def test_an_upload_that_holds_together_is_accepted(tmp_path: Path) -> None:
    layout = FarmLayout(tmp_path)
    files = sample()
    manifest = upload(files)
    slot_dir = layout.slot_dir(PASS, 1, 1)
    send(slot_dir, manifest, files)
    m = parse_manifest(manifest)
    check_received(layout, slot_dir, m)
    result = accept(layout, slot_dir, m)
    assert sorted(d.cpv for d in result.digests) == ["app-misc/hello-1.0", "sys-apps/demo-base-1.0"]
    # the same package from another worker's EPREFIX has the same content digest (k-of-n)
    other = make_gpkg("app-misc/hello-1.0", {"/usr/bin/hello": b"\x7fELF hello"}, "/w2/root")
    files2 = {**files, HELLO: other}
    files2["Packages"] = packages_index(
        [
            index_entry("app-misc/hello-1.0", HELLO, other),
            index_entry("sys-apps/demo-base-1.0", BASE, files[BASE]),
        ]
    ).encode()
    slot2 = layout.slot_dir(PASS, 2, 1)
    send(slot2, upload(files2), files2)
    again = accept(layout, slot2, parse_manifest(upload(files2)))
    assert sha(other) != sha(files[HELLO]) and again.digests == result.digests
    # and different bytes in the image are a different content digest
    evil = make_gpkg("app-misc/hello-1.0", {"/usr/bin/hello": b"\x7fELF trojan"})
    files3 = {**files, HELLO: evil}
    files3["Packages"] = packages_index(
        [
            index_entry("app-misc/hello-1.0", HELLO, evil),
            index_entry("sys-apps/demo-base-1.0", BASE, files[BASE]),
        ]
    ).encode()
    slot3 = layout.slot_dir(PASS, 3, 1)
    send(slot3, upload(files3), files3)
    third = accept(layout, slot3, parse_manifest(upload(files3)))
    assert [d.content for d in third.digests] != [d.content for d in result.digests]
    assert [d.state for d in third.digests] == [d.state for d in result.digests]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        pytest.param("changed-byte", "SHA-256 differs from the upload manifest", id="changed-byte"),
        pytest.param("missing", "missing package app-misc/hello-1.0", id="missing-package"),
        pytest.param("unindexed", "unindexed file app-misc/hello/hello-1.0-2", id="unindexed"),
        pytest.param("index-sha1", "size or SHA-1 differs from its Packages entry", id="sha1"),
        pytest.param("not-gpkg", "not a readable GPKG", id="not-a-gpkg"),
        pytest.param("wrong-cpv", "holds sys-apps/demo-base-1.0, the index says b/c-1", id="cpv"),
    ],
)
def test_an_upload_that_does_not_hold_together_is_refused(
    tmp_path: Path, case: str, reason: str
) -> None:
    layout = FarmLayout(tmp_path)
    files = sample()
    declared = None
    if case == "changed-byte":
        declared = dict(files)
        files[HELLO] = files[HELLO][:100] + bytes([files[HELLO][100] ^ 1]) + files[HELLO][101:]
    elif case == "missing":
        del files[HELLO]
    elif case == "unindexed":
        files["app-misc/hello/hello-1.0-2.gpkg.tar"] = files[HELLO]
    elif case == "index-sha1":
        files[BASE] += b"\0" * 512
    elif case == "wrong-cpv":
        files["Packages"] = packages_index(
            [
                index_entry("app-misc/hello-1.0", HELLO, files[HELLO]),
                index_entry("b/c-1", BASE, files[BASE]),
            ]
        ).encode()
    elif case == "not-gpkg":
        junk = b"not a tar" * 100
        files[HELLO] = junk
        files["Packages"] = packages_index(
            [
                index_entry("app-misc/hello-1.0", HELLO, junk),
                index_entry("b/c-1", BASE, files[BASE]),
            ]
        ).encode()
    manifest = upload(files, declared)
    slot_dir = layout.slot_dir(PASS, 1, 1)
    send(slot_dir, manifest, files)
    m = parse_manifest(manifest)
    with pytest.raises(Refused, match=reason):
        check_received(layout, slot_dir, m)
        accept(layout, slot_dir, m)


def test_signed_packages_no_snapshot_holds_are_forgotten(tmp_path: Path) -> None:
    layout = FarmLayout(tmp_path)
    kept, dropped = tmp_path / "kept.gpkg.tar", tmp_path / "dropped.gpkg.tar"
    kept.write_bytes(b"k")
    dropped.write_bytes(b"d")
    remember_signed(layout, "a" * 64, kept, 1, "x")
    remember_signed(layout, "b" * 64, dropped, 1, "y")
    dropped.unlink()  # its snapshot was pruned: only the store holds it
    assert prune_signed(layout) == 0  # not before the grace period
    assert prune_signed(layout, grace=0) == 1
    assert have(layout, "a" * 64) and not have(layout, "b" * 64)
    assert not layout.signed_info("b" * 64).exists()


def test_a_build_job_round_trips_as_json() -> None:
    job = BuildJob(
        data_dir="/w",
        pass_id=PASS,
        profile={"name": "p"},
        root="prefix",
        stage="",
        jobs=2,
        repo_dir="/w/r",
        repo_digest="d",
        distcc_hosts=("h/2",),
        parent=1,
        seed=("q",),
        seed_exclude=("sys-kernel/k",),
    )
    assert BuildJob.from_json(job.to_json()) == job
