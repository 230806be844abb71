"""The admin JSON API (/api/v1) through Flask's test client, and the OpenAPI description."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.hosts import EventKind
from provision.server import apispec, services
from provision.server.sessions import password_tag
from tests.webapp import MAC, PASSWORD, csrf, fake_build, login


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A client that sends an admin Bearer token (no cookie, no CSRF token needed)."""
    c = app.test_client()
    resp = c.post("/api/v1/auth/token", json={"password": PASSWORD})
    assert resp.status_code == 200
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {resp.json['token']}"  # type: ignore[index]
    return c


def _tag(app: Flask) -> str:
    settings = app.config["PROVISION"]
    return password_tag(settings.secret_key, settings.admin_password_hash)


def body(resp: Any) -> Any:
    return json.loads(resp.get_data(as_text=True))


ADMIN_ROUTES = [
    ("GET", "/api/v1/hosts"),
    ("GET", f"/api/v1/hosts/{MAC}"),
    ("PUT", f"/api/v1/hosts/{MAC}"),
    ("DELETE", f"/api/v1/hosts/{MAC}"),
    ("POST", f"/api/v1/hosts/{MAC}/reinstall"),
    ("GET", f"/api/v1/hosts/{MAC}/etc-merge-reports"),
    ("GET", "/api/v1/profiles"),
    ("GET", "/api/v1/profiles/server-amd64"),
    ("GET", "/api/v1/builds"),
    ("GET", "/api/v1/builds/server-amd64"),
    ("POST", "/api/v1/builds/server-amd64/trigger"),
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/1"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_unauthenticated_is_401(app: Flask, method: str, path: str) -> None:
    c = app.test_client()
    resp = c.open(path, method=method, json={})
    assert resp.status_code == 401 and body(resp)["error"] == "authentication required"
    c.environ_base["HTTP_AUTHORIZATION"] = "Bearer forged.token"
    assert c.open(path, method=method, json={}).status_code == 401


def test_token(app: Flask) -> None:
    c = app.test_client()
    assert c.post("/api/v1/auth/token", json={"password": "wrong"}).status_code == 401
    assert c.post("/api/v1/auth/token", json={}).status_code == 401
    assert c.post("/api/v1/auth/token", data="[1]").status_code == 400
    resp = body(c.post("/api/v1/auth/token", json={"password": PASSWORD}))
    token, lifetime = resp["token"], resp["expires_in"]
    assert lifetime == 12 * 3600
    for sent, status in ((token, 200), (token[:-2], 401), ("", 401)):
        assert c.get("/api/v1/hosts", headers={"Authorization": f"Bearer {sent}"}).status_code == (
            status
        )
    # expired: the row outlives its time
    sessions = services.sessions(app)
    assert sessions.find(token, tag=_tag(app), now=time.time() + lifetime + 1) is None


def test_session_needs_csrf_header_for_unsafe_methods(app: Flask) -> None:
    c = app.test_client()
    login(c)
    assert c.get("/api/v1/hosts").status_code == 200  # GET: the cookie is enough
    assert c.put(f"/api/v1/hosts/{MAC}", json={"profile": "server-amd64"}).status_code == 400
    token = csrf(c, "/hosts")
    resp = c.put(
        f"/api/v1/hosts/{MAC}", json={"profile": "server-amd64"}, headers={"X-CSRF-Token": token}
    )
    assert resp.status_code == 200 and body(resp)["host"]["profile"] == "server-amd64"


def test_hosts(app: Flask, api: FlaskClient) -> None:
    resp = api.put("/api/v1/hosts/52-54-00-12-34-56", json={"profile": "server-amd64"})
    assert resp.status_code == 200
    host = body(resp)["host"]
    assert (host["mac"], host["profile"], host["state"]) == (MAC, "server-amd64", "new")
    store = services.store(app)
    first = store.add_event(MAC, EventKind.START, step="partition")
    store.add_event(
        MAC, EventKind.PROGRESS, step="packages", progress=0.5, log_tail="emerging 3 of 9"
    )
    data = body(api.get(f"/api/v1/hosts/{MAC}"))
    assert [e["step"] for e in data["events"]] == ["partition", "packages"]
    data = body(api.get(f"/api/v1/hosts/{MAC}?after={first.id}"))
    assert [e["log_tail"] for e in data["events"]] == ["emerging 3 of 9"]
    assert [h["mac"] for h in body(api.get("/api/v1/hosts"))["hosts"]] == [MAC]
    store.set_state(MAC, store.host(MAC).state.__class__("installed"))
    data = body(api.post(f"/api/v1/hosts/{MAC}/reinstall", json={"wipe": False}))
    assert (data["host"]["boot_local"], data["host"]["wipe"]) == (False, False)
    assert api.delete(f"/api/v1/hosts/{MAC}").status_code == 204
    assert api.get(f"/api/v1/hosts/{MAC}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "text"),
    [
        pytest.param("PUT", "/api/v1/hosts/zz", {}, 404, "", id="mac"),
        pytest.param("PUT", f"/api/v1/hosts/{MAC}", {"profile": "x"}, 404, "unknown", id="prof"),
        pytest.param("PUT", f"/api/v1/hosts/{MAC}", {"hostname": 5}, 400, "string", id="type"),
        pytest.param("PUT", f"/api/v1/hosts/{MAC}", {"hostname": "A B"}, 400, "host n", id="hn"),
        pytest.param("GET", f"/api/v1/hosts/{MAC}?after=x", None, 404, "unknown", id="nohost"),
        pytest.param("POST", f"/api/v1/hosts/{MAC}/reinstall", {}, 404, "unknown", id="re"),
        pytest.param("GET", "/api/v1/profiles/nope", None, 404, "unknown profile", id="p"),
        pytest.param("GET", "/api/v1/builds/nope", None, 404, "unknown profile", id="b"),
        pytest.param("POST", "/api/v1/orders", {"kind": "iso"}, 400, "required", id="o1"),
        pytest.param(
            "POST", "/api/v1/orders", {"profile": "server-amd64", "kind": "x"}, 400, "kind", id="o2"
        ),
        pytest.param("POST", "/api/v1/orders", {"profile": "n", "kind": "iso"}, 404, "", id="o3"),
        pytest.param("GET", "/api/v1/orders/7", None, 404, "unknown order", id="o4"),
    ],
)
def test_bad_requests(
    api: FlaskClient, method: str, path: str, payload: Any, status: int, text: str
) -> None:
    resp = api.open(path, method=method, json=payload)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert text in body(resp)["error"]


def test_etc_merge_report(app: Flask, api: FlaskClient) -> None:
    host = services.store(app).upsert_host(MAC, profile="server-amd64")
    report = {
        "format": "provision-etc-merge/1",
        "mode": "auto",
        "files": [
            {"path": "/etc/ssh/sshd_config", "action": "ask", "applied": False, "reason": "both"},
            {"path": "/etc/conf.d/net", "action": "take-new", "applied": True, "reason": "x"},
        ],
        "applied": 1,
        "pending": ["/etc/ssh/sshd_config"],
    }
    anon = app.test_client()
    url = f"/api/v1/hosts/{MAC}/etc-merge-report"
    assert anon.post(url, json=report).status_code == 401
    assert anon.post(url, json=report, headers={"Authorization": "Bearer nope"}).status_code == 401
    resp = anon.post(url, json=report, headers={"Authorization": f"Bearer {host.token}"})
    assert resp.status_code == 201 and body(resp)["pending"] == 1
    resp = anon.post(f"{url}?token={host.token}", json={**report, "pending": []})
    assert resp.status_code == 201 and body(resp)["pending"] == 0
    bad = anon.post(f"{url}?token={host.token}", json={"files": "x"})
    assert bad.status_code == 400 and "report.files" in body(bad)["error"]
    other = f"/api/v1/hosts/52:54:00:00:00:01/etc-merge-report?token={host.token}"
    assert anon.post(other, json=report).status_code == 401  # a token is good for its host only
    reports = body(api.get(f"/api/v1/hosts/{MAC}/etc-merge-reports"))["reports"]
    assert [r["pending"] for r in reports] == [0, 1]
    admin = app.test_client()
    login(admin)
    page = admin.get(f"/hosts/{MAC}").get_data(as_text=True)
    assert "/etc/ssh/sshd_config" in page and "1 applied, 1 pending" in page


def test_profiles(api: FlaskClient) -> None:
    profiles = body(api.get("/api/v1/profiles"))["profiles"]
    laptop = next(p for p in profiles if p["name"] == "laptop-amd64")
    assert laptop["inherits"] == "desktop-amd64" and "wifi" in laptop["use"]
    assert laptop["disk"]["partitions"][0]["filesystem"] == "vfat"
    one = body(api.get("/api/v1/profiles/server-amd64"))
    assert one["name"] == "server-amd64" and "app-misc/hello" in one["packages"]


def test_builds(app: Flask, api: FlaskClient) -> None:
    layout = fake_build(app.config["PROVISION"].data_dir, "server-amd64")
    builds = {b["profile"]: b for b in body(api.get("/api/v1/builds"))["builds"]}
    assert builds["server-amd64"]["phase"] == "building" and builds["server-amd64"]["running"]
    assert 0.1 <= builds["server-amd64"]["progress"] < 0.9 and builds["server-amd64"]["eta"] > 0
    assert builds["desktop-amd64"]["phase"] == "idle"
    one = body(api.get("/api/v1/builds/server-amd64"))
    assert "still compiling" in one["log_tail"]
    assert one["current"] == "20240102T000000Z-s2"
    resp = api.post("/api/v1/builds/server-amd64/hold", json={"reason": "wait"})
    assert body(resp)["phase"] == "held" and body(resp)["error"] == "wait"
    assert api.post("/api/v1/builds/server-amd64/resume").status_code == 200
    assert layout.trigger_file("server-amd64").exists()
    resp = api.post("/api/v1/builds/server-amd64/rollback", json={})
    assert body(resp)["current"] == "20240101T000000Z-s1"
    resp = api.post("/api/v1/builds/server-amd64/rollback", json={})
    assert resp.status_code == 404 and "no snapshot older" in body(resp)["error"]
    assert api.post("/api/v1/builds/server-amd64/explode").status_code == 404


def test_orders(api: FlaskClient) -> None:
    resp = api.post(
        "/api/v1/orders", json={"profile": "server-amd64", "kind": "iso", "email": "a@example.org"}
    )
    assert resp.status_code == 201
    order = body(resp)
    assert order["state"] == "queued" and order["eta"] > 0 and "token" not in order
    assert body(api.get(f"/api/v1/orders/{order['id']}"))["email"] == "a@example.org"
    assert [o["id"] for o in body(api.get("/api/v1/orders"))["orders"]] == [order["id"]]


# --- the description -------------------------------------------------------------------------
def spec() -> dict[str, Any]:
    return apispec.spec()  # openapi.json + openapi_fleet.json


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def test_served_spec(app: Flask) -> None:
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200 and body(resp) == spec()
    assert spec()["openapi"].startswith("3.")


def test_every_api_route_is_described(app: Flask) -> None:
    paths = spec()["paths"]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    assert routes, "no /api/v1 routes registered"
    missing = [
        f"{m.upper()} {p}"
        for p, ms in sorted(routes.items())
        for m in ms
        if m not in paths.get(p, {})
    ]
    assert missing == [], f"routes missing from openapi.json: {missing}"
    stale = [
        f"{m.upper()} {p}"
        for p, item in paths.items()
        for m in item
        if m != "parameters" and m not in routes.get(p, set())
    ]
    assert stale == [], f"openapi.json describes routes the app does not have: {stale}"
    # the installer's endpoints (api_v1.py) are part of the same description
    assert "get" in paths["/api/v1/hosts/{mac}/config"]
    assert "post" in paths["/api/v1/hosts/{mac}/events"]


def test_spec_refs_resolve() -> None:
    doc = spec()
    refs = re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', json.dumps(doc))
    assert refs and set(refs) <= set(doc["components"]["schemas"])
