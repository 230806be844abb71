"""The farm's HTTP side through the test client (no broker: the dispatcher is not running):
the worker API with leases and fencing, the admin's tokens and JSON, the builds pages' panels,
and the snapshot routes that mirrors and caches read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.farm.model import SlotState
from provision.server.farm_services import farm_store
from tests.unit.gpkg_samples import index_entry, make_gpkg, packages_index
from tests.webapp import post

PASS = "20261201T104016Z-f0512f"
SLOT = f"{PASS}.1"
HELLO = "app-misc/hello/hello-1.0-1.gpkg.tar"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def worker(app: Flask) -> str:
    store = farm_store(app)
    store.create_pass(PASS, "server-amd64", 1, "digest", {"pass_id": PASS, "distfiles": []})
    return store.create_worker("w1")


def lease(client: FlaskClient, token: str) -> Any:
    return client.post(
        f"/api/v1/farm/slots/{SLOT}/lease", json={"delivery": "t@w"}, headers=bearer(token)
    )


def test_unknown_tokens_are_refused(client: FlaskClient, worker: str) -> None:
    assert client.get("/api/v1/farm/whoami").status_code == 401
    assert client.get("/api/v1/farm/whoami", headers=bearer("pfw_nope")).status_code == 401
    me = client.get("/api/v1/farm/whoami", headers=bearer(worker)).get_json()
    assert me["name"] == "w1" and "server-amd64" in me["profiles"] and me["lease_ttl"] == 60


def test_leases_are_exclusive_and_fence_the_old_holder(
    app: Flask, client: FlaskClient, worker: str
) -> None:
    other = farm_store(app).create_worker("w2")
    granted = lease(client, worker)
    assert granted.status_code == 200 and granted.get_json()["pass"]["pass_id"] == PASS
    token = granted.get_json()["lease"]
    assert lease(client, other).status_code == 409
    beat = client.post(
        f"/api/v1/farm/slots/{SLOT}/beat", json={"lease": token}, headers=bearer(worker)
    )
    assert beat.status_code == 200
    fenced = client.post(
        f"/api/v1/farm/slots/{SLOT}/beat", json={"lease": "x"}, headers=bearer(worker)
    )
    assert fenced.status_code == 409
    # the other worker cannot use the lease token it does not hold
    stolen = client.post(
        f"/api/v1/farm/slots/{SLOT}/manifest", json={"lease": token}, headers=bearer(other)
    )
    assert stolen.status_code == 409
    assert (
        client.post("/api/v1/farm/slots/nope/lease", json={}, headers=bearer(worker)).status_code
        == 400
    )


def test_an_upload_in_chunks_then_complete(app: Flask, client: FlaskClient, worker: str) -> None:
    token = lease(client, worker).get_json()["lease"]
    pkg = make_gpkg("app-misc/hello-1.0", {"/usr/bin/hello": b"hello"})
    index = packages_index([index_entry("app-misc/hello-1.0", HELLO, pkg)]).encode()
    files = {"Packages": index, HELLO: pkg}
    manifest = {
        "lease": token,
        "files": [
            {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for p, d in files.items()
        ],
        "outcome": {"ok": True, "seconds": 2.0, "built": ["app-misc/hello-1.0"]},
    }
    need = client.post(f"/api/v1/farm/slots/{SLOT}/manifest", json=manifest, headers=bearer(worker))
    assert need.status_code == 200
    assert {n["path"]: n["offset"] for n in need.get_json()["need"]} == {"Packages": 0, HELLO: 0}

    def put(rel: str, offset: int, data: bytes, digest: str = "") -> Any:
        return client.put(
            f"/api/v1/farm/slots/{SLOT}/files/{rel}?offset={offset}",
            data=data,
            headers={
                **bearer(worker),
                "X-Lease": token,
                "X-Chunk-SHA256": digest or hashlib.sha256(data).hexdigest(),
            },
        )

    assert put(HELLO, 0, pkg[:1000]).get_json() == {"size": 1000}
    wrong = put(HELLO, 0, pkg[:1000])
    assert wrong.status_code == 416 and wrong.get_json()["have"] == 1000
    assert put(HELLO, 1000, pkg[1000:2000], "0" * 64).status_code == 400
    assert put("../etc/passwd", 0, b"x").status_code in (400, 404)
    assert put(HELLO, 1000, pkg[1000:]).status_code == 200
    early = client.post(
        f"/api/v1/farm/slots/{SLOT}/complete", json={"lease": token}, headers=bearer(worker)
    )
    assert early.status_code == 422 and "Packages: not uploaded" in early.get_json()["error"]


def test_a_complete_upload_is_taken(app: Flask, client: FlaskClient, worker: str) -> None:
    token = lease(client, worker).get_json()["lease"]
    log = b"emerge log\n"
    manifest = {
        "lease": token,
        "files": [{"path": "log", "size": len(log), "sha256": hashlib.sha256(log).hexdigest()}],
        "outcome": {"ok": False, "error": "app-misc/hello-1.0 failed (compile)"},
    }
    client.post(f"/api/v1/farm/slots/{SLOT}/manifest", json=manifest, headers=bearer(worker))
    client.put(
        f"/api/v1/farm/slots/{SLOT}/files/log?offset=0",
        data=log,
        headers={
            **bearer(worker),
            "X-Lease": token,
            "X-Chunk-SHA256": hashlib.sha256(log).hexdigest(),
        },
    )
    done = client.post(
        f"/api/v1/farm/slots/{SLOT}/complete", json={"lease": token}, headers=bearer(worker)
    )
    assert done.get_json()["state"] == "failed"
    slot = farm_store(app).slot(SLOT)
    assert slot.state is SlotState.FAILED and "compile" in slot.error


def test_worker_tokens_in_the_ui_and_the_api(admin: FlaskClient, app: Flask) -> None:
    post(admin, "/farm/workers", {"name": "builder-1"}, page="/farm")
    page = admin.get("/farm").get_data(as_text=True)
    assert "builder-1" in page and "pfw_" in page  # shown once, in the flash
    assert "pfw_" not in admin.get("/farm").get_data(as_text=True)
    post(admin, "/farm/workers/builder-1/revoke", {}, page="/farm")
    assert farm_store(app).worker("builder-1").revoked is not None  # type: ignore[union-attr]
    summary = admin.get("/api/v1/farm").get_json()
    assert summary["enabled"] is False and summary["workers"][0]["revoked"] is True
    assert admin.get("/builds").status_code == 200


def test_the_build_page_shows_verification_counts(admin: FlaskClient, app: Flask) -> None:
    store = farm_store(app)
    for w in ("w1", "w2"):
        store.record("server-amd64", "app-misc/hello-1.0", "s", "good", w, PASS)
    store.record("server-amd64", "app-misc/hello-1.0", "s", "evil", "w3", PASS)
    page = admin.get("/builds/server-amd64").get_data(as_text=True)
    assert "Verifications (k-of-n)" in page and "2/1" in page and "w3" in page
    data = admin.get("/api/v1/farm/packages/server-amd64").get_json()
    assert data["packages"] == [
        {
            "cpv": "app-misc/hello-1.0",
            "count": 2,
            "required": 1,
            "workers": ["w1", "w2"],
            "disagree": ["w3"],
        }
    ]


def publish_fake(data_dir: Path, profile: str, sid: str) -> None:
    snap = data_dir / "snapshots" / profile / sid
    (snap / "binhost").mkdir(parents=True)
    (snap / "binhost" / "Packages").write_text("PACKAGES: 0\n")
    (snap / "meta.json").write_text(json.dumps({"id": sid}))
    (data_dir / "snapshots" / profile / "current").symlink_to(sid)


def fetch(client: FlaskClient, url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    resp = client.get(url, **kw)
    try:
        return resp.status_code, dict(resp.headers), resp.get_data()
    finally:
        resp.close()


def test_snapshot_files_are_immutable_pointers_are_not(client: FlaskClient, tmp_path: Path) -> None:
    sid = "20261201T000000Z-abcdef"
    publish_fake(tmp_path / "data", "server-amd64", sid)
    url = f"/snapshots/server-amd64/{sid}/binhost/Packages"
    status, headers, _ = fetch(client, url)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fetch(client, url, headers={"If-None-Match": headers["ETag"]})[0] == 304
    status, headers, body = fetch(client, "/snapshots/server-amd64/current")
    assert body.decode().strip() == sid and headers["Cache-Control"] == "public, max-age=5"
    index = json.loads(fetch(client, "/snapshots/index.json")[2])
    assert index["profiles"]["server-amd64"]["current"] == sid
    for bad in (
        f"/snapshots/server-amd64/{sid}/../../keys/x",
        "/snapshots/server-amd64/current/meta.json",
        "/snapshots/..%2f/x/y",
        f"/snapshots/server-amd64/{sid}/meta.json/..",
    ):
        assert fetch(client, bad)[0] == 404, bad
