"""The web UI through Flask's test client: every page, the picker policy, auth and CSRF."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.builder.state import Phase, load_state
from provision.hosts import EventKind
from provision.server import services
from provision.server.images import ImageMaker, OrderWorker, images_dir
from provision.server.orders import OrderConfig
from tests.webapp import MAC, PASSWORD, close_app, csrf, fake_build, flashes, make_app, post

# --- auth ------------------------------------------------------------------------------------
PROTECTED_GET = [
    "/hosts",
    f"/hosts/{MAC}",
    "/builds",
    "/builds/server-amd64",
    "/orders",
    "/orders/1",
]
PROTECTED_POST = [
    "/hosts",
    f"/hosts/{MAC}/assign",
    f"/hosts/{MAC}/reinstall",
    f"/hosts/{MAC}/delete",
    "/builds/server-amd64/trigger",
    "/orders",
]


@pytest.mark.parametrize("path", PROTECTED_GET)
def test_pages_redirect_anonymous_to_login(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PROTECTED_POST)
def test_posts_refused_anonymous(client: FlaskClient, path: str) -> None:
    resp = client.post(path, data={"csrf_token": csrf(client)})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_login_wrong_password(client: FlaskClient) -> None:
    resp = client.post("/login", data={"password": "nope", "csrf_token": csrf(client)})
    assert resp.status_code == 401 and "Wrong password" in resp.get_data(as_text=True)
    assert client.get("/hosts").status_code == 302


def test_login_without_csrf_is_400(client: FlaskClient) -> None:
    client.get("/login")
    assert client.post("/login", data={"password": PASSWORD}).status_code == 400
    resp = client.post("/login", data={"password": PASSWORD, "csrf_token": "forged"})
    assert resp.status_code == 400
    assert client.get("/hosts").status_code == 302


def test_login_refused_when_no_password_set(tmp_path: Path, profiles_dir: Path) -> None:
    app = make_app(tmp_path, profiles_dir, password_hash="")
    try:
        c = app.test_client()
        resp = c.post("/login", data={"password": "", "csrf_token": csrf(c)})
        assert resp.status_code == 401
        assert "provision admin-password" in resp.get_data(as_text=True)
    finally:
        close_app(app)


def test_login_follows_only_local_next(client: FlaskClient) -> None:
    token = csrf(client)
    data = {"password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    resp = client.post("/login", data=data)
    assert resp.headers["Location"] == "/"
    client.post("/logout", data={"csrf_token": csrf(client, "/hosts")})
    data = {"password": PASSWORD, "csrf_token": csrf(client), "next": "/builds"}
    assert client.post("/login", data=data).headers["Location"] == "/builds"


def test_logout(admin: FlaskClient) -> None:
    assert admin.get("/hosts").status_code == 200
    assert admin.post("/logout", data={"csrf_token": "bad"}).status_code == 400
    assert admin.post("/logout", data={"csrf_token": csrf(admin, "/hosts")}).status_code == 302
    assert admin.get("/hosts").status_code == 302


def test_logged_in_post_with_bad_csrf_is_400(admin: FlaskClient) -> None:
    assert admin.post("/hosts", data={"mac": MAC}).status_code == 400
    assert admin.post("/hosts", data={"mac": MAC, "csrf_token": "x"}).status_code == 400
    assert MAC not in admin.get("/hosts").get_data(as_text=True)


def test_index(client: FlaskClient, admin: FlaskClient) -> None:
    assert client.get("/").headers["Location"] == "/picker"
    assert admin.get("/").headers["Location"] == "/hosts"


def test_static(client: FlaskClient) -> None:
    with client.get("/static/style.css") as css, client.get("/static/app.js") as js:
        assert css.status_code == 200 and b"progress" in css.data
        assert b"data-events" in js.data


# --- picker ----------------------------------------------------------------------------------
def test_picker_shows_what_profiles_install(client: FlaskClient) -> None:
    page = client.get(f"/picker?mac={MAC}").get_data(as_text=True)
    assert 'value="52:54:00:12:34:56"' in page
    assert "app-misc/greeter" in page  # desktop packages
    assert "wifi acpi" in page or "wifi" in page  # laptop USE
    assert "dev-libs/cyc-b: extras" in page  # package.use
    assert "vfat" in page and "256.0 MiB" in page  # disk layout
    assert "rest of disk" in page


def test_picker_anonymous_assign_then_locked(app: Flask, client: FlaskClient) -> None:
    to = post(client, "/picker", {"mac": "52-54-00-12-34-56", "profile": "laptop-amd64"}, "/picker")
    assert to.startswith("/picker?mac=52:54:00:12:34:56")
    assert "will install laptop-amd64" in flashes(client, to)
    host = services.store(app).host(MAC)
    assert host.profile == "laptop-amd64"
    # a second anonymous choice for an assigned host needs an admin
    resp = client.post(
        "/picker", data={"mac": MAC, "profile": "server-amd64", "csrf_token": csrf(client)}
    )
    assert resp.status_code == 403
    assert services.store(app).host(MAC).profile == "laptop-amd64"


def test_picker_admin_may_reassign(app: Flask, admin: FlaskClient) -> None:
    services.store(app).upsert_host(MAC, profile="laptop-amd64", hostname="lap1")
    to = post(admin, "/picker", {"hostname": "lap1", "profile": "server-amd64"}, "/picker")
    assert to == f"/hosts/{MAC}"
    assert services.store(app).host(MAC).profile == "server-amd64"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        pytest.param({"mac": "zz", "profile": "server-amd64"}, "is not a MAC address", id="mac"),
        pytest.param({"mac": MAC, "profile": "nope"}, "unknown profile", id="profile"),
        pytest.param({"hostname": "ghost", "profile": "server-amd64"}, "no host is named", id="n"),
        pytest.param({"profile": "server-amd64"}, "give the host", id="nothing"),
    ],
)
def test_picker_bad_input(
    app: Flask, client: FlaskClient, form: dict[str, str], message: str
) -> None:
    to = post(client, "/picker", form, "/picker")
    assert message in flashes(client, to)
    assert services.store(app).hosts() == []


def test_picker_post_without_csrf(client: FlaskClient) -> None:
    client.get("/picker")
    assert client.post("/picker", data={"mac": MAC, "profile": "server-amd64"}).status_code == 400


# --- hosts -----------------------------------------------------------------------------------
def test_hosts_pages_and_actions(app: Flask, admin: FlaskClient) -> None:
    to = post(admin, "/hosts", {"mac": MAC, "hostname": "Web1", "profile": "server-amd64"})
    assert to == f"/hosts/{MAC}"
    store = services.store(app)
    store.add_event(MAC, EventKind.START, step="partition", message="starting")
    store.add_event(MAC, EventKind.FAILURE, step="packages", log_tail="emerge: fatal error XYZ")
    store.set_state(MAC, store.host(MAC).state.__class__("installed"))
    listing = admin.get("/hosts").get_data(as_text=True)
    assert MAC in listing and "web1" in listing and "installed" in listing
    page = admin.get(f"/hosts/{MAC}").get_data(as_text=True)
    assert "partition" in page and "emerge: fatal error XYZ" in page
    assert "local disk" in page and store.host(MAC).token in page
    post(admin, f"/hosts/{MAC}/assign", {"profile": "desktop-amd64", "hostname": "web2"})
    assert (store.host(MAC).profile, store.host(MAC).hostname) == ("desktop-amd64", "web2")
    to = post(admin, f"/hosts/{MAC}/assign", {"profile": "nope"})
    assert "unknown profile" in flashes(admin, to)
    post(admin, f"/hosts/{MAC}/reinstall", {"wipe": "1"})
    host = store.host(MAC)
    assert (host.boot_local, host.wipe, host.state.value) == (False, True, "new")
    assert post(admin, f"/hosts/{MAC}/delete", {}) == "/hosts"
    assert store.find_host(MAC) is None


def test_hosts_bad_input(admin: FlaskClient) -> None:
    to = post(admin, "/hosts", {"mac": "nonsense"})
    assert "is not a MAC address" in flashes(admin, to)
    assert admin.get(f"/hosts/{MAC}").status_code == 404
    assert admin.get("/hosts/not-a-mac").status_code == 404
    token = csrf(admin, "/hosts")
    assert admin.post(f"/hosts/{MAC}/reinstall", data={"csrf_token": token}).status_code == 404
    assert admin.post("/hosts/zz/delete", data={"csrf_token": token}).status_code == 404


# --- builds ----------------------------------------------------------------------------------
def test_builds_pages(app: Flask, admin: FlaskClient) -> None:
    data_dir = app.config["PROVISION"].data_dir
    fake_build(data_dir, "server-amd64")
    listing = admin.get("/builds").get_data(as_text=True)
    assert "server-amd64" in listing and "<progress" in listing and "building" in listing
    assert "desktop-amd64" in listing and "(none published)" in listing
    page = admin.get("/builds/server-amd64").get_data(as_text=True)
    assert "still compiling..." in page
    assert "20240102T000000Z-s2 <b>(current)</b>" in page and "Make current" in page
    assert admin.get("/builds/nope").status_code == 404


def test_build_actions(app: Flask, admin: FlaskClient) -> None:
    data_dir = app.config["PROVISION"].data_dir
    layout = fake_build(data_dir, "server-amd64")
    page = "/builds/server-amd64"
    post(admin, "/builds/server-amd64/trigger", {}, page)
    assert layout.trigger_file("server-amd64").exists()
    layout.trigger_file("server-amd64").unlink()
    post(admin, "/builds/server-amd64/hold", {"reason": "bad glibc"}, page)
    st = load_state(layout.state_file("server-amd64"), "server-amd64")
    assert (st.phase, st.error) == (Phase.HELD, "bad glibc")
    assert "Resume" in admin.get(page).get_data(as_text=True)
    post(admin, "/builds/server-amd64/resume", {}, page)
    assert layout.trigger_file("server-amd64").exists()
    to = post(admin, "/builds/server-amd64/rollback", {"snapshot": "20240101T000000Z-s1"}, page)
    assert "20240101T000000Z-s1 is current again" in flashes(admin, to)
    assert layout.current_link("server-amd64").readlink().name == "20240101T000000Z-s1"
    to = post(admin, "/builds/server-amd64/rollback", {"snapshot": "nope"}, page)
    assert "no snapshot &#39;nope&#39;" in flashes(admin, to)
    token = csrf(admin, page)
    assert admin.post("/builds/server-amd64/explode", data={"csrf_token": token}).status_code == 404
    assert admin.post("/builds/nope/trigger", data={"csrf_token": token}).status_code == 404


# --- orders ----------------------------------------------------------------------------------
def test_orders_flow(app: Flask, admin: FlaskClient, client: FlaskClient) -> None:
    to = post(admin, "/orders", {"profile": "server-amd64", "kind": "tarball"}, "/orders")
    assert to == "/orders/1"
    page = admin.get(to).get_data(as_text=True)
    assert "queued" in page and "<progress" in page and "ready in about" in page
    settings = app.config["PROVISION"]
    worker = OrderWorker(
        services.orders(app),
        ImageMaker(settings.data_dir, settings.profiles_dir, settings.base_url),
        images_dir(settings.data_dir),
        OrderConfig(),
        settings.base_url,
    )
    done = worker.run_once()
    assert done is not None and done.state.value == "ready"
    page = admin.get(to).get_data(as_text=True)
    link = f"/images/1/{done.token}"
    assert link in page and "server-amd64-1.tar.gz" in page
    assert "server-amd64" in admin.get("/orders").get_data(as_text=True)
    with client.get(link) as resp:  # no login: the token is the key
        assert resp.status_code == 200 and resp.data[:2] == b"\x1f\x8b"
    assert services.orders(app).get(1).fetched is not None
    assert client.get("/images/1/wrong-token").status_code == 404
    assert client.get("/images/99/x").status_code == 404
    assert admin.get("/orders/99").status_code == 404


def test_order_bad_input(admin: FlaskClient) -> None:
    to = post(admin, "/orders", {"profile": "server-amd64", "kind": "floppy"}, "/orders")
    assert "not an image kind" in flashes(admin, to)
    to = post(admin, "/orders", {"profile": "nope", "kind": "iso"}, "/orders")
    assert "unknown profile" in flashes(admin, to)
    assert "No orders yet" in admin.get("/orders").get_data(as_text=True)


# --- boot paths ------------------------------------------------------------------------------
def test_picker_and_host_page_say_how_the_machine_booted(app: Flask, client: FlaskClient) -> None:
    from provision.hosts import BootInfo, BootPath
    from provision.server import bootpaths
    from tests.webapp import login

    store = services.store(app)
    store.upsert_host(MAC)
    assert "This machine booted by" not in client.get(f"/picker?mac={MAC}").get_data(True)
    bootpaths.record(store, MAC, BootInfo(BootPath.HTTP, "uefi", False, "UEFI HTTPv4"))
    page = client.get(f"/picker?mac={MAC}").get_data(as_text=True)
    assert "This machine booted by <b>UEFI HTTP boot, UEFI, Secure Boot off</b>" in page
    # the Secure Boot profile says so, and that this machine had Secure Boot off
    assert "<b>Secure Boot:</b> on the installed system" in page
    assert "this machine booted with Secure Boot off" in page
    assert "This machine booted by" not in client.get("/picker?mac=junk").get_data(True)
    login(client)
    bootpaths.record(store, MAC, BootInfo(BootPath.ISO, "uefi", True, "UEFI QEMU DVD-ROM"))
    host = client.get(f"/hosts/{MAC}").get_data(as_text=True)
    assert "ISO (CD/DVD), UEFI, Secure Boot on" in host and "UEFI QEMU DVD-ROM" in host
