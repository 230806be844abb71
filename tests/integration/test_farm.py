"""The build farm with real components: Redis, the server and three workers in their own
network namespaces (tests/integration/farm_fixtures.py), a mirror in a fourth and a stock
Portage client.  One farm per module; the tests run in order and share what they built."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.portage import gpkg
from provision.signing import load_key
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot, read_meta
from provision.snapshots.verify import check_binhost
from tests.integration import farm_fixtures
from tests.integration.build_fixtures import client_dir
from tests.integration.farm_fixtures import Farm

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    yield from farm_fixtures.start_farm(tmp_path_factory.mktemp("farm"))


def test_a_pass_runs_on_a_worker_and_the_server_signs_it(farm: Farm) -> None:
    farm.trigger("f-basic")
    row = farm.wait_state("f-basic", ("published", "held"))
    assert row["state"] == "published", row
    assert row["worker"] in ("w1", "w2"), row
    snap = current_snapshot(farm.server_dir, "f-basic")
    assert snap is not None
    key = load_key(DataLayout(farm.server_dir).keys)
    index = check_binhost(snap / "binhost", key.verify_home, key.fingerprint)
    assert sorted(index.cpvs()) == ["app-misc/hello-1.0", "sys-apps/demo-base-1.0"]
    assert (snap / "image" / "system.tar.zst").is_file()  # the server made the image
    assert read_meta(snap)["worker"] == row["worker"]
    # the worker built unsigned, and has no key
    worker_pkgs = sorted((farm.work / row["worker"] / "builds/f-basic/pkgdir").rglob("*.gpkg.tar"))
    assert worker_pkgs and not any(gpkg.signed(p) for p in worker_pkgs)
    assert not (farm.work / row["worker"] / "keys").exists()


def test_the_builds_page_shows_workers_heartbeats_and_queues(farm: Farm) -> None:
    page = farm.page("/builds")
    for name in ("w1", "w2", "w3"):
        assert f">{name}" in page
    assert "Last heartbeat" in page and "Queue length:" in page and "profile.f-basic" in page
    summary = farm.api("/api/v1/farm")
    live = {w["name"]: w for w in summary["workers"]}
    assert all(live[n]["live"] and live[n]["age"] < 30 for n in ("w1", "w2", "w3")), live
    assert summary["queues"] is not None and "worker.w1" in summary["queues"]
    assert "w1" in farm.cli("worker-token", "list").stdout


def test_a_worker_token_cannot_publish_or_administer(farm: Farm) -> None:
    token = farm.tokens["w1"]
    for method, path in (
        ("POST", "/api/v1/builds/f-basic/trigger"),
        ("POST", "/api/v1/builds/f-basic/rollback"),
        ("GET", "/api/v1/farm"),
        ("POST", "/api/v1/farm/workers"),
    ):
        status, _, _ = farm.call(method, path, {}, token)
        assert status == 401, (method, path, status)


def test_snapshot_files_are_immutable_and_pointers_short_lived(farm: Farm) -> None:
    sid = farm.status("f-basic")["snapshot"]
    path = f"/snapshots/f-basic/{sid}/binhost/Packages"
    status, body, headers = farm.call("GET", path, token="")
    assert status == 200 and b"CPV: app-misc/hello-1.0" in body
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = headers["etag"]
    status, _, _ = farm.call("GET", path, token="", headers={"If-None-Match": etag})
    assert status == 304
    status, body, headers = farm.call("GET", "/snapshots/f-basic/current", token="")
    assert body.decode().strip() == sid and headers["cache-control"] == "public, max-age=5"
    index = json.loads(farm.call("GET", "/snapshots/index.json", token="")[1])
    assert index["profiles"]["f-basic"]["current"] == sid


def test_kill_9_of_a_worker_mid_pass_runs_the_pass_again(farm: Farm) -> None:
    farm.trigger("f-slow")
    slot = farm.wait_slot("f-slow", "leased")
    victim = slot["worker"]
    other = "w2" if victim == "w1" else "w1"
    deadline = time.monotonic() + 120
    while "app-misc/slow" not in farm.worker_log(victim, "f-slow").split(">>> Emerging")[-1]:
        assert time.monotonic() < deadline, farm.worker_log(victim, "f-slow")
        time.sleep(0.2)
    time.sleep(1)  # inside src_compile's sleep
    farm.kill(victim)
    assert not build_processes(farm.work / victim), "the killed worker's build lives on"
    row = farm.wait_state("f-slow", ("published", "held"))
    assert row["state"] == "published" and row["worker"] == other, row
    detail = farm.api(f"/api/v1/farm/passes/{farm.pass_id('f-slow')}")
    kinds = [(e["kind"], e["worker"]) for e in detail["events"] if e["kind"] != "published"]
    assert kinds[:3] == [("granted", victim), ("expired", victim), ("granted", other)], kinds
    snapshots = DataLayout(farm.server_dir).snapshots("f-slow")
    assert [p.name for p in snapshots.iterdir() if p.name.startswith(".")] == []
    farm.start_worker(victim)  # the machine comes back for the next tests


def build_processes(data_dir: Path) -> list[int]:
    """Processes still running with the worker's data dir on their command line."""
    time.sleep(1)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(data_dir) in cmd:
                found.append(int(entry.name))
    return found


def test_a_build_that_fails_on_a_worker_holds_the_profile_with_its_log(farm: Farm) -> None:
    farm.trigger("f-broken")
    row = farm.wait_state("f-broken", ("published", "held"))
    assert row["state"] == "held", row
    assert "app-misc/broken-1 failed (compile" in row["error"], row
    assert "(on worker w1)" in row["error"] or "(on worker w2)" in row["error"], row
    assert "broken on purpose" in Path(row["log"]).read_text()  # the worker's log, uploaded
    assert current_snapshot(farm.server_dir, "f-broken") is None


def test_a_redis_restart_loses_no_pass_and_runs_none_twice(farm: Farm) -> None:
    farm_fixtures.write_slow(farm.repo, "2")  # both slow profiles have to build again
    before = {p: farm.pass_id(p) for p in ("f-slow", "f-slow-b", "f-basic")}
    farm.trigger("f-slow", "f-slow-b")
    farm.wait_slot("f-slow", "leased")
    farm.wait_slot("f-slow-b", "leased")
    farm.trigger("f-basic")  # both workers are busy: this one waits in the broker
    farm.wait_slot("f-basic", "queued")
    time.sleep(1)
    farm.daemons["redis"].stop()  # no persistence: every message in Redis is gone
    time.sleep(2)
    farm.start_redis()
    for profile in before:
        row = farm.wait_state(profile, ("published", "held"), after=before[profile])
        assert row["state"] == "published", (profile, row)
        detail = farm.api(f"/api/v1/farm/passes/{farm.pass_id(profile)}")
        grants = [e for e in detail["events"] if e["kind"] == "granted"]
        assert len(grants) == 1, (profile, detail["events"])  # ran once, never in parallel
        assert [s["state"] for s in detail["slots"]] == ["accepted"], detail
    basic = farm.api(f"/api/v1/farm/passes/{farm.pass_id('f-basic')}")
    assert any(e["kind"] == "lost" for e in basic["events"]), basic["events"]


def test_a_server_restart_mid_upload_resumes_the_upload(farm: Farm) -> None:
    farm.trigger("f-big")
    slot = farm.wait_slot("f-big", "leased")
    uploads = farm.server_dir / "farm" / "passes" / slot["slot"].rsplit(".", 1)[0] / "slots"
    deadline = time.monotonic() + 180
    while not [p for p in uploads.rglob("big-1-*.gpkg.tar.part") if p.stat().st_size > 0]:
        assert time.monotonic() < deadline, farm.logs()
        time.sleep(0.1)
    farm.kill("server")
    time.sleep(2)
    farm.start_server()
    row = farm.wait_state("f-big", ("published", "held"))
    assert row["state"] == "published", row
    log = farm.daemons[slot["worker"]].text()
    assert "unreachable" in log and "resuming the upload at byte" in log, log[-3000:]
    snap = current_snapshot(farm.server_dir, "f-big")
    assert snap is not None
    big = next((snap / "binhost" / "app-misc" / "big").glob("*.gpkg.tar"))
    assert big.stat().st_size > farm_fixtures.BIG_MIB << 20


def test_uploads_that_do_not_hold_together_are_refused_and_hold_the_profile(farm: Farm) -> None:
    worker = next(n for n in ("w1", "w2") if (farm.work / n / "builds/f-basic/pkgdir").is_dir())
    pkgdir = farm.work / worker / "builds" / "f-basic" / "pkgdir"
    real = {
        str(p.relative_to(pkgdir)): farm_fixtures.padded(p.read_bytes())
        for p in pkgdir.rglob("*.gpkg.tar")
    }
    hello = next(r for r in real if r.startswith("app-misc/hello/"))
    extra = "app-misc/hello/hello-1.0-999.gpkg.tar"  # a BUILD_ID no pass of this module reaches
    assert extra not in real
    index = farm_fixtures.reindex((pkgdir / "Packages").read_text(), real).encode()
    good = {**real, "Packages": index}
    flipped = bytearray(real[hello])
    flipped[len(flipped) // 3] ^= 0x01
    cases = [
        ("a changed byte", {**good, hello: bytes(flipped)}, good, "changed byte"),
        (
            "a missing package",
            {k: v for k, v in good.items() if k != hello},
            None,
            "missing package",
        ),
        (
            "an unindexed file",
            {**good, extra: real[hello]},
            None,
            f"unindexed file {extra}",
        ),
    ]
    for what, sent, declared, reason in cases:
        before = farm.pass_id("f-tamper")
        farm.trigger("f-tamper")
        slot = farm.wait_slot("f-tamper", "queued")
        farm_fixtures.hostile_upload(farm, slot["slot"], sent, declared)
        row = farm.wait_state("f-tamper", ("held", "published"), after=before)
        assert row["state"] == "held", (what, row)
        assert "upload from worker evil refused" in row["error"] and reason in row["error"], row
        assert current_snapshot(farm.server_dir, "f-tamper") is None  # nothing published


def test_k_of_n_publishes_only_what_enough_workers_agree_on(farm: Farm) -> None:
    farm.trigger("f-kofn3")  # three workers; w3's compiler is trojaned
    row = farm.wait_state("f-kofn3", ("published", "held"))
    assert row["state"] == "held", row
    assert "k-of-n: app-misc/hello-1.0 has 2 agreeing builds of the 3 required" in row["error"]
    assert "w3 built something else" in row["error"], row
    workers = {w["name"]: w for w in farm.api("/api/v1/farm")["workers"]}
    assert "app-misc/hello-1.0" in workers["w3"]["flag"], workers["w3"]
    assert not workers["w1"]["flag"] and not workers["w2"]["flag"]
    page = farm.page("/builds/f-kofn3")
    assert "2/3" in page and "flagged" in page and "w3" in page
    farm.trigger("f-kofn2")
    row = farm.wait_state("f-kofn2", ("published", "held"))
    assert row["state"] == "published", row
    snap = current_snapshot(farm.server_dir, "f-kofn2")
    assert snap is not None
    meta = read_meta(snap)
    assert meta["worker"] in ("w1", "w2")
    counts = {p["cpv"]: p for p in farm.api("/api/v1/farm/packages/f-kofn2")["packages"]}
    assert counts["app-misc/hello-1.0"]["count"] >= 2, counts
    assert set(counts["app-misc/hello-1.0"]["workers"]) >= {"w1", "w2"}
    assert "2/2" in farm.page("/builds/f-kofn2") or "3/2" not in farm.page("/builds/f-kofn2")


def test_a_mirror_serves_verified_snapshots_to_a_stock_client(farm: Farm) -> None:
    key = load_key(DataLayout(farm.server_dir).keys)
    mirror_dir = farm.work / "mirror"
    sid = farm.status("f-basic")["snapshot"]
    farm.lab.start(
        "mirror",
        farm.provision_argv(
            "mirror",
            "--from",
            farm_fixtures.SERVER_URL,
            "--to",
            str(mirror_dir),
            "--fingerprint",
            key.fingerprint,
            "--forever",
            "--interval",
            "1",
            "--listen",
            f"{farm_fixtures.MIRROR_IP}:8081",
        ),
        netns=farm.mirror_ns,
        env=farm.env(),
        ready=f"f-basic/{sid} is current",
        timeout=120,
    )
    mirror_url = f"http://{farm_fixtures.MIRROR_IP}:8081"
    assert (mirror_dir / "snapshots" / "f-basic" / "current").resolve().name == sid
    with client_dir() as base:
        client = farm_fixtures.binhost_client(
            base / "c1",
            farm,
            "f-basic",
            [
                ("mirror", f"{mirror_url}/binhost/f-basic", 10000),
                ("server", f"{farm_fixtures.SERVER_URL}/binhost/f-basic", 9999),
            ],
        )
        res = farm_fixtures.emerge_in(
            farm, farm.client_ns, client, "--getbinpkgonly", "app-misc/hello"
        )
        assert res.returncode == 0, res.stdout[-3000:]
        assert "app-misc/hello-1.0" in client.installed()
        # the mirror is altered: one byte of a package, the index made to match
        mirrored = mirror_dir / "snapshots" / "f-basic" / sid / "binhost"
        pkg = next((mirrored / "app-misc" / "hello").glob("*.gpkg.tar"))
        data = farm_fixtures.flip_in_member(pkg.read_bytes(), "image.tar.zst")
        pkg.unlink()
        pkg.write_bytes(bytes(data))
        rel = str(pkg.relative_to(mirrored))
        index = farm_fixtures.reindex((mirrored / "Packages").read_text(), {rel: bytes(data)})
        (mirrored / "Packages").unlink()
        (mirrored / "Packages").write_text(index)
        if (mirrored / "Packages.gz").exists():  # what Portage fetches first
            (mirrored / "Packages.gz").unlink()
            (mirrored / "Packages.gz").write_bytes(gzip.compress(index.encode()))
        victim = farm_fixtures.binhost_client(
            base / "c2", farm, "f-basic", [("mirror", f"{mirror_url}/binhost/f-basic", 10000)]
        )
        res = farm_fixtures.emerge_in(
            farm, farm.client_ns, victim, "--getbinpkgonly", "app-misc/hello"
        )
        assert res.returncode != 0 and "app-misc/hello-1.0" not in victim.installed()
        assert "GnuPG verification failed" in res.stdout + res.stderr, res.stderr[-3000:]
    audit = farm.lab.run(
        [
            "sh",
            "-c",
            " ".join(
                farm.provision_argv(
                    "--data-dir",
                    str(farm.server_dir),
                    "--profiles-dir",
                    str(farm.profiles),
                    "verify",
                    "f-basic",
                    "--mirror",
                    mirror_url,
                )
            )
            + "; echo rc=$?",
        ],
    )
    assert "rc=1" in audit and f"altered        {rel}" in audit, audit
    # a mirror of the altered mirror refuses the snapshot
    second = farm.lab.run(
        [
            "sh",
            "-c",
            " ".join(
                farm.provision_argv(
                    "mirror",
                    "--from",
                    mirror_url,
                    "--to",
                    str(farm.work / "mirror2"),
                    "--fingerprint",
                    key.fingerprint,
                )
            )
            + " 2>&1; echo rc=$?",
        ],
        timeout=120,
    )
    assert "rc=2" in second and "image.tar.zst does not match its signed checksum" in second, second
    assert not (farm.work / "mirror2" / "snapshots" / "f-basic" / "current").exists()
