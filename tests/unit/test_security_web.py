"""Issue 15, tried as an attacker on the LAN would, through Flask's test client: each test is
one of the numbered attacks (the live-server and TFTP ones are in
tests/integration/test_security_live.py).  Every one failed before the fix."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.cli import main
from provision.hosts import HostState
from provision.server import services
from provision.server.images import ready_mail
from provision.server.orders import Order
from tests.conftest import PROFILES
from tests.webapp import MAC, PASSWORD, close_app, csrf, fake_build, flashes, login, make_app

OTHER_MAC = "52:54:00:aa:bb:cc"


def host_headers(app: Flask, mac: str = MAC) -> dict[str, str]:
    token = services.store(app).upsert_host(mac, profile="server-amd64").token
    return {"Authorization": f"Bearer {token}"}


def api_token(client: FlaskClient, password: str = PASSWORD) -> str:
    resp = client.post("/api/v1/auth/token", json={"password": password})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    token: str = resp.json["token"]  # type: ignore[index]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_form(client: FlaskClient, path: str, data: dict[str, str], page: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


# --- 1. profile names are looked up, never joined into a path -------------------------------------
@pytest.fixture
def outside_toml(tmp_path: Path) -> Path:
    """A TOML file outside the profile directory whose keys would show in an error."""
    path = tmp_path / "outside" / "loot.toml"
    path.parent.mkdir()
    path.write_text('leaked_secret_marker = "from /etc"\n')
    return path


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_1_picker_does_not_open_files_outside_the_profiles(
    app: Flask, client: FlaskClient, outside_toml: Path, how: str
) -> None:
    stem = str(outside_toml.with_suffix(""))
    name = stem if how == "absolute" else "../" * 12 + stem.lstrip("/")
    resp = post_form(client, "/picker", {"mac": MAC, "profile": name}, "/picker")
    page = flashes(client, resp.headers["Location"]) if resp.status_code == 302 else resp.text
    assert "leaked_secret_marker" not in page
    assert "unknown profile" in page or "not a profile name" in page
    assert services.store(app).find_host(MAC) is None


def test_1_admin_api_stores_no_path_as_profile(
    app: Flask, client: FlaskClient, outside_toml: Path
) -> None:
    token = api_token(client)
    name = str(outside_toml.with_suffix(""))
    resp = client.put(f"/api/v1/hosts/{MAC}", json={"profile": name}, headers=bearer(token))
    assert resp.status_code == 400 and "not a profile name" in resp.json["error"]  # type: ignore[index]
    assert "leaked_secret_marker" not in resp.text
    assert services.store(app).find_host(MAC) is None


def test_1_inherits_names_a_profile_not_a_path(tmp_path: Path, outside_toml: Path) -> None:
    from provision.errors import ConfigError
    from provision.profiles import ProfileSet

    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles, ignore=shutil.ignore_patterns("repo"))
    (profiles / "child.toml").write_text(f'inherits = "{outside_toml.with_suffix("")}"\n')
    with pytest.raises(ConfigError, match=r"parent profile .* not found") as err:
        ProfileSet(profiles).get("child")
    assert "leaked_secret_marker" not in str(err.value)


# --- 2. bodies are capped before they are read ----------------------------------------------------
def test_2_oversized_body_is_413_before_parsing(client: FlaskClient) -> None:
    big = b'{"password": "' + b"x" * (2 << 20) + b'"}'
    resp = client.post("/api/v1/auth/token", data=big, content_type="application/json")
    assert resp.status_code == 413
    small_but_over_login_cap = json.dumps({"password": "x" * 8000})
    resp = client.post("/api/v1/auth/token", data=small_but_over_login_cap)
    assert resp.status_code == 413


# --- 3. event fields are bounded ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "size"),
    [("step", 10_000), ("message", 10_000), ("message", 5 << 20), ("log_tail", 1 << 20)],
)
def test_3_event_fields_are_bounded(app: Flask, client: FlaskClient, field: str, size: int) -> None:
    headers = host_headers(app)
    body = {"kind": "log", field: "x" * size}
    resp = client.post(f"/api/v1/hosts/{MAC}/events", json=body, headers=headers)
    assert resp.status_code in (400, 413), resp.status_code
    assert services.store(app).events(MAC) == []


def test_3_log_tail_is_kept_short(app: Flask, client: FlaskClient) -> None:
    headers = host_headers(app)
    body = {"kind": "log", "log_tail": "y" * 20_000}
    assert client.post(f"/api/v1/hosts/{MAC}/events", json=body, headers=headers).status_code == 201
    assert len(services.store(app).events(MAC)[0].log_tail) == 8192


# --- 4. no open redirect after login --------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example", "/\n/x", "//evil.example", "/\\evil.example", "https://evil.example/",
     "/\r\n/x", " //evil.example", "/%09/ok", "/hosts\x00"],
)  # fmt: skip
def test_4_login_redirects_only_to_local_paths(client: FlaskClient, target: str) -> None:
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200
    resp = client.post(
        "/login", data={"password": PASSWORD, "csrf_token": csrf(client), "next": target}
    )
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert not re.search(r"[\x00-\x20]", location)
    if target == "/%09/ok":
        assert location == "/%09/ok"  # a local path with escapes is fine


# --- 5. logins are throttled and failures logged --------------------------------------------------
@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.time() under the test's control (advance it with clock[0] += seconds)."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_5_web_logins_back_off_per_address(
    app: Flask, client: FlaskClient, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "provision.auth")
    statuses = [post_form(client, "/login", {"password": "guess"}, "/login").status_code]
    statuses += [post_form(client, "/login", {"password": "guess"}, "/login").status_code
                 for _ in range(6)]  # fmt: skip
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
    blocked = post_form(client, "/login", {"password": PASSWORD}, "/login")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "failed admin login" in caplog.text
    clock[0] += 3600  # the block ends; the right password works again
    assert post_form(client, "/login", {"password": PASSWORD}, "/login").status_code == 302


def test_5_api_logins_are_throttled_logged_and_audited(
    app: Flask, client: FlaskClient, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "provision.auth")
    codes = [client.post("/api/v1/auth/token", json={"password": f"g{i}"}).status_code
             for i in range(8)]  # fmt: skip
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    assert "failed admin login (via api) from 127.0.0.1" in caplog.text
    failed = [e for e in services.audit_log(app).entries() if e.action == "login-failed"]
    assert len(failed) >= 5 and all(not e.ok and e.address == "127.0.0.1" for e in failed)


def test_5_the_account_backs_off_across_addresses(app: Flask, clock: list[float]) -> None:
    """Guessing from many addresses: the account's own back-off (capped lower) holds."""
    codes = []
    for i in range(12):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"192.0.2.{i + 1}"
        codes.append(c.post("/api/v1/auth/token", json={"password": "guess"}).status_code)
    assert 429 in codes
    clock[0] += 120  # the account's cap (60 s) has passed; a fresh address may log in
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert c.post("/api/v1/auth/token", json={"password": PASSWORD}).status_code == 200


# --- 6. sessions and tokens can be taken back -----------------------------------------------------
def test_6_cookie_replayed_after_logout_is_refused(app: Flask) -> None:
    browser = app.test_client()
    login(browser)
    cookie = browser.get_cookie("session")
    assert cookie is not None
    assert browser.post("/logout", data={"csrf_token": csrf(browser, "/hosts")}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    resp = thief.get("/hosts")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert thief.get("/api/v1/hosts").status_code == 401


def test_6_password_change_revokes_cookies_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "server.toml").write_text(f'secret_key = "{"s" * 32}"\n')
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main(["--data-dir", str(data), "admin-password", "--stdin"]) == 0
    from provision.server.settings import load_settings

    app = make_app(data, PROFILES, load_settings(data, PROFILES).admin_password_hash)
    browser = app.test_client()
    login(browser)
    cookie = browser.get_cookie("session")
    assert cookie is not None
    token = api_token(app.test_client())
    assert browser.get("/api/v1/hosts").status_code == 200
    close_app(app)
    # the admin sets a new password, the server restarts
    monkeypatch.setattr("sys.stdin", io.StringIO("a-new-password\n"))
    assert main(["--data-dir", str(data), "admin-password", "--stdin"]) == 0
    app = make_app(data, PROFILES, load_settings(data, PROFILES).admin_password_hash)
    try:
        replay = app.test_client()
        replay.set_cookie("session", cookie.value)
        assert replay.get("/api/v1/hosts").status_code == 401
        assert app.test_client().get("/api/v1/hosts", headers=bearer(token)).status_code == 401
        entries = services.audit_log(app).entries()
        assert any(e.action == "password-changed" and e.actor == "cli" for e in entries)
    finally:
        close_app(app)


def test_6_password_changed_by_hand_revokes_too(app: Flask, tmp_path: Path) -> None:
    token = api_token(app.test_client())
    settings = app.config["PROVISION"]
    from werkzeug.security import generate_password_hash

    other = make_app(settings.data_dir, PROFILES, generate_password_hash("x", "pbkdf2:sha256:1"))
    try:
        assert other.test_client().get("/api/v1/hosts", headers=bearer(token)).status_code == 401
    finally:
        close_app(other)


def test_6_log_out_everywhere(app: Flask) -> None:
    laptop, desk = app.test_client(), app.test_client()
    login(laptop)
    login(desk)
    token = api_token(app.test_client())
    resp = desk.post("/logout-all", data={"csrf_token": csrf(desk, "/audit")})
    assert resp.status_code == 302
    assert laptop.get("/api/v1/hosts").status_code == 401
    assert desk.get("/api/v1/hosts").status_code == 401
    assert app.test_client().get("/api/v1/hosts", headers=bearer(token)).status_code == 401


def test_6_api_logout_and_logout_all(app: Flask) -> None:
    c = app.test_client()
    one, two = api_token(c), api_token(c)
    assert c.post("/api/v1/auth/logout", headers=bearer(one)).status_code == 204
    assert c.get("/api/v1/hosts", headers=bearer(one)).status_code == 401
    assert c.get("/api/v1/hosts", headers=bearer(two)).status_code == 200
    resp = c.post("/api/v1/auth/logout-all", headers=bearer(two))
    assert resp.status_code == 200 and resp.json["revoked"] >= 1  # type: ignore[index]
    assert c.get("/api/v1/hosts", headers=bearer(two)).status_code == 401


# --- 7. the cookie can be Secure ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base_url", "setting", "secure"),
    [
        ("http://srv:8080", None, False),
        ("https://provision.example.org", None, True),
        ("http://127.0.0.1:8080", True, True),  # behind a TLS proxy that talks http to us
        ("https://provision.example.org", False, False),
    ],
)
def test_7_secure_cookie(tmp_path: Path, base_url: str, setting: bool | None, secure: bool) -> None:
    from provision.server.app import create_app
    from provision.server.settings import ServerSettings
    from tests.webapp import HASH

    settings = ServerSettings(
        tmp_path, PROFILES, "s" * 32, base_url=base_url, admin_password_hash=HASH,
        secure_cookies=setting,
    )  # fmt: skip
    app = create_app(settings)
    try:
        c = app.test_client()
        page = c.get("/login")
        cookie = page.headers.get("Set-Cookie", "")
        assert "session=" in cookie and "HttpOnly" in cookie
        assert ("Secure" in cookie) is secure
    finally:
        close_app(app)


def test_7_secure_cookies_setting_in_server_toml(tmp_path: Path) -> None:
    from provision.errors import ConfigError
    from provision.server.settings import load_settings

    (tmp_path / "server.toml").write_text(f'secret_key = "{"s" * 32}"\nsecure_cookies = true\n')
    assert load_settings(tmp_path, tmp_path).cookies_secure
    (tmp_path / "server.toml").write_text(f'secret_key = "{"s" * 32}"\nsecure_cookies = "yes"\n')
    with pytest.raises(ConfigError, match="true or false"):
        load_settings(tmp_path, tmp_path)


# --- 8. the SQLite file (and its -wal, -shm) is private -------------------------------------------
def test_8_database_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    import os

    from provision.server.store import Store

    old = os.umask(0o022)
    try:
        store = Store.in_data_dir(tmp_path / "data")
        store.upsert_host(MAC)
        names = ("provision.sqlite", "provision.sqlite-wal", "provision.sqlite-shm")
        modes = {n: stat.S_IMODE((tmp_path / "data" / n).stat().st_mode) for n in names}
        store.close()
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(names, 0o600)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) & 0o077 == 0


def test_8_existing_open_files_are_tightened(tmp_path: Path) -> None:
    from provision.server.datadir import secure_data_dir

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    for rel in ("provision.sqlite", "server.toml", "images/web1.iso"):
        (data / rel).write_text("x")
        (data / rel).chmod(0o644)
    data.chmod(0o755)
    changed = secure_data_dir(data)
    assert data / "server.toml" in changed
    for path in (data, data / "provision.sqlite", data / "server.toml", data / "images/web1.iso"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_8_ordered_images_are_private(tmp_path: Path) -> None:
    from provision.profiles import ProfileSet
    from provision.server.images import make_tarball

    out = make_tarball(
        ProfileSet(PROFILES).get("server-amd64"), "http://srv:8080", None, tmp_path / "o.tar.gz",
        lambda f: None,
    )  # fmt: skip
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# --- 9. no 500 from hostile input -----------------------------------------------------------------
@pytest.fixture
def built(app: Flask) -> Flask:
    fake_build(app.config["PROVISION"].data_dir, "server-amd64")
    return app


@pytest.mark.parametrize(
    "path",
    [
        "/binhost/server-amd64/a%00b",
        "/binhost/server-amd64/" + "a" * 300,
        "/binhost/server-amd64/" + "a" * 300 + "/Packages",
        "/binhost/" + "a" * 300 + "/Packages",
        "/repo/" + "a" * 300 + "/snapshot.tar.gz",
        "/repo/server-amd64/" + "a" * 300 + ".tar.gz",
        "/image/server-amd64/" + "a" * 300 + "/system.tar.zst",
        "/image/" + "a" * 300 + "/current/system.tar.zst",
        "/images/" + "9" * 30 + "/" + "t" * 24,
        "/images/1/" + "t" * 300,
        "/api/v1/files/" + "a" * 300 + "/stage.tar.xz",
        "/boot/" + "a" * 300 + ".ipxe",
    ],
)
def test_9_hostile_paths_are_404(built: Flask, client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/orders/" + "9" * 30, "/api/v1/orders/" + "9" * 30])
def test_9_huge_order_numbers_are_404(app: Flask, path: str) -> None:
    c = app.test_client()
    login(c)
    assert c.get(path).status_code == 404


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/token", f"/api/v1/hosts/{MAC}/events",
             f"/api/v1/hosts/{MAC}/etc-merge-report"],
)  # fmt: skip
def test_9_deep_json_is_400(app: Flask, client: FlaskClient, path: str) -> None:
    headers = host_headers(app)
    for deep in ("[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        resp = client.post(path, data=deep, content_type="application/json", headers=headers)
        assert resp.status_code in (400, 401, 413), (path, resp.status_code)
        assert resp.status_code != 401 or path.endswith("token")


@pytest.mark.parametrize(
    "body",
    [
        '{"kind": "progress", "progress": Infinity}',
        '{"kind": "progress", "progress": NaN}',
        '{"kind": "progress", "progress": 1e400}',
        '{"kind": "progress", "progress": 1e30}',
        '{"kind": "progress", "progress": -0.5}',
        '{"kind": "progress", "progress": "half"}',
        '{"kind": "progress", "progress": 1' + "0" * 5000 + "}",
        '{"kind": "log", "message": "\\ud800"}',
        '{"kind": "log", "addresses": ["' + '", "'.join(["192.0.2.1"] * 100) + '"]}',
    ],
)
def test_9_event_numbers_are_range_checked(app: Flask, client: FlaskClient, body: str) -> None:
    headers = host_headers(app)
    resp = client.post(
        f"/api/v1/hosts/{MAC}/events", data=body, content_type="application/json", headers=headers
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)
    admin = app.test_client()
    login(admin)
    assert admin.get(f"/hosts/{MAC}").status_code == 200  # the host page still loads


@pytest.mark.parametrize(
    "body",
    [
        '{"files": [], "applied": 1e30}',
        '{"files": [], "applied": 1000000000000000000000000000000}',
        '{"files": [], "applied": -1}',
        '{"files": [], "applied": Infinity}',
        '{"files": [' + "[" * 1000 + "]" * 1000 + "]}",
        '{"files": [{"path": 5}]}',
    ],
)
def test_9_merge_report_numbers_are_range_checked(
    app: Flask, client: FlaskClient, body: str
) -> None:
    headers = host_headers(app)
    url = f"/api/v1/hosts/{MAC}/etc-merge-report"
    resp = client.post(url, data=body, content_type="application/json", headers=headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    admin = app.test_client()
    login(admin)
    assert admin.get(f"/hosts/{MAC}").status_code == 200


def test_9_bad_query_numbers_are_400(app: Flask) -> None:
    c = app.test_client()
    token = api_token(c)
    services.store(app).upsert_host(MAC)
    for after in ("9" * 30, "²", "-1", "1.5"):
        resp = c.get(f"/api/v1/hosts/{MAC}", query_string={"after": after}, headers=bearer(token))
        assert resp.status_code == 400, after


# --- 10. static routes stay in the directory they name --------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/binhost/server-amd64/../meta.json",
        "/binhost/server-amd64/%2e%2e/meta.json",
        "/binhost/server-amd64/%2E%2E/meta.json",
        "/binhost/server-amd64/./../meta.json",
        "/binhost/server-amd64/..%2fmeta.json",
        "/binhost/server-amd64/%2e%2e%2f%2e%2e%2f%2e%2e%2fprovision.sqlite",
    ],
)
def test_10_binhost_serves_only_binhost(built: Flask, client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404, resp.get_data(as_text=True)[:200]


def test_10_binhost_still_serves_its_files(built: Flask, client: FlaskClient) -> None:
    binhost = built.config["PROVISION"].data_dir / "snapshots/server-amd64/current/binhost"
    (binhost / "app-misc").mkdir()
    (binhost / "app-misc/hello-1.0-1.gpkg.tar").write_bytes(b"gpkg")
    (binhost / "Packages").write_text("PACKAGES: 1\n")
    with client.get("/binhost/server-amd64/Packages") as resp:
        assert resp.data == b"PACKAGES: 1\n"
    with client.get("/binhost/server-amd64/app-misc/hello-1.0-1.gpkg.tar") as resp:
        assert resp.status_code == 200 and resp.data == b"gpkg"


# --- 11. host names match in full -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["evil\n", "evil\nkernel http://x", "a" * 300, "a b", "..", ""])
def test_11_host_names_match_in_full(app: Flask, client: FlaskClient, name: str) -> None:
    token = api_token(client)
    resp = client.put(f"/api/v1/hosts/{MAC}", json={"hostname": name}, headers=bearer(token))
    if name == "":
        assert resp.status_code == 200  # "" clears the name
        return
    assert resp.status_code == 400
    host = services.store(app).find_host(MAC)
    assert host is None or "\n" not in host.hostname
    assert client.get(f"/boot/{MAC}.ipxe").status_code == 200


# --- 12. one e-mail address per order -------------------------------------------------------------
@pytest.mark.parametrize(
    "email",
    ["victim,attacker@evil.org", "victim@example.org,attacker@evil.org", "a@b.org; c@evil.org",
     "Victim <v@example.org>", "v@example.org\nBcc: a@evil.org", "v@example.org ", "@evil.org"],
)  # fmt: skip
def test_12_order_email_is_one_address(
    app: Flask, admin: FlaskClient, client: FlaskClient, email: str
) -> None:
    token = api_token(client)
    body = {"profile": "server-amd64", "kind": "iso", "email": email}
    resp = client.post("/api/v1/orders", json=body, headers=bearer(token))
    if email == "v@example.org ":  # blanks around one address are dropped, not refused
        assert resp.status_code == 201 and resp.json["email"] == "v@example.org"  # type: ignore[index]
        return
    assert resp.status_code == 400 and resp.json["field"] == "email"  # type: ignore[index]
    resp = post_form(admin, "/orders", {"profile": "server-amd64", "kind": "iso", "email": email},
                     "/orders")  # fmt: skip
    assert "is not an e-mail address" in flashes(admin, resp.headers["Location"])
    assert services.orders(app).all() == []


def test_12_a_mail_has_one_recipient() -> None:
    order = Order(1, "p", "iso", "a@example.org", "ready", 0, 0, 0, None, "", 0, "", 1, "t")  # type: ignore[arg-type]
    msg = ready_mail(order, "http://srv/images/1/t", "provision@localhost")
    assert msg.get_all("To") == ["a@example.org"]


# --- 14. an anonymous picker answer names no MAC it was not given ---------------------------------
@pytest.mark.parametrize("state", ["assigned", "new"])
def test_14_picker_does_not_reveal_a_mac(app: Flask, client: FlaskClient, state: str) -> None:
    store = services.store(app)
    if state == "assigned":
        store.upsert_host(OTHER_MAC, profile="server-amd64", hostname="web1")
    else:
        store.upsert_host(OTHER_MAC, hostname="web1")
    resp = post_form(client, "/picker", {"hostname": "web1", "profile": "laptop-amd64"}, "/picker")
    shown = resp.get_data(as_text=True) + resp.headers.get("Location", "")
    if resp.status_code == 302:
        shown += flashes(client, resp.headers["Location"])
    else:
        assert resp.status_code == 403
    spellings = {OTHER_MAC, OTHER_MAC.replace(":", "%3A"), OTHER_MAC.replace(":", "")}
    assert not any(s in shown for s in spellings), shown
    assert "web1" in shown
    expected = "server-amd64" if state == "assigned" else "laptop-amd64"
    assert store.host(OTHER_MAC).profile == expected
    assert store.host(OTHER_MAC).state is HostState.NEW


def test_14_an_admin_still_sees_the_mac(app: Flask, admin: FlaskClient) -> None:
    services.store(app).upsert_host(OTHER_MAC, hostname="web1")
    resp = post_form(admin, "/picker", {"hostname": "web1", "profile": "laptop-amd64"}, "/picker")
    assert resp.headers["Location"] == f"/hosts/{OTHER_MAC}"


# --- the audit log (UI and API) -------------------------------------------------------------------
def test_audit_log_records_admin_actions(app: Flask, client: FlaskClient) -> None:
    post_form(client, "/login", {"password": "wrong"}, "/login")
    login(client)
    resp = post_form(client, "/hosts", {"mac": MAC, "profile": "server-amd64"}, "/hosts")
    assert resp.status_code == 302
    token = api_token(app.test_client())
    app.test_client().delete(f"/api/v1/hosts/{MAC}", headers=bearer(token))
    entries = app.test_client().get("/api/v1/audit", headers=bearer(token)).json["entries"]  # type: ignore[index]
    actions = [e["action"] for e in entries]
    assert actions == ["host-delete", "token", "host-add", "login", "login-failed"]
    assert entries[0]["target"] == MAC and entries[0]["actor"].startswith("admin (api:")
    assert entries[2]["actor"].startswith("admin (web:") and entries[2]["address"] == "127.0.0.1"
    assert entries[4]["ok"] is False and entries[4]["actor"] == "anonymous"
    page = client.get("/audit").get_data(as_text=True)
    assert "host-add" in page and "login-failed" in page and MAC in page
    assert app.test_client().get("/api/v1/audit").status_code == 401
    assert app.test_client().get("/audit").status_code == 302
    older = app.test_client().get(
        "/api/v1/audit", query_string={"before": entries[1]["id"], "limit": 2},
        headers=bearer(token),
    ).json["entries"]  # type: ignore[index]  # fmt: skip
    assert [e["action"] for e in older] == ["host-add", "login"]
