"""The fleet through the server (Flask's test client): a machine is discovered, reports its
hardware, the rules assign a profile it can run (or it waits, with the reasons); the picker,
the host page and the admin API refuse profiles its CPU cannot run; power settings keep the
password to themselves."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provision.cli import main
from provision.server.app import create_app
from provision.server.fleet_store import FleetStore
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.unit.fleet_samples import NEHALEM, NEHALEM_MINUS, QEMU_MAX, machine
from tests.webapp import HASH, PASSWORD, close_app, csrf, login, make_app

MAC = "52:54:00:e2:f1:01"
RULES = """
[[rule]]
name = "laptops"
profile = "laptop-amd64"
chassis = "laptop"
hostname = "{chassis}-{serial}"

[[rule]]
name = "vms"
profile = "vm-amd64"
chassis = ["laptop", "other"]
vendor = ["LENOVO", "QEMU"]
hostname = "{chassis}-{serial}"
max_hosts = 2
"""


def profiles_dir(root: Path, rules: str | None = RULES) -> Path:
    """The bundled profiles (linked) and a rules.toml."""
    root.mkdir()
    for item in PROFILES.iterdir():
        (root / item.name).symlink_to(item)
    if rules is not None:
        (root / "rules.toml").write_text(rules)
    return root


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    made = make_app(tmp_path / "data", profiles_dir(tmp_path / "profiles"))
    yield made
    close_app(made)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    c = app.test_client()
    login(c)
    return c


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    c = app.test_client()
    token = body(c.post("/api/v1/auth/token", json={"password": PASSWORD}))["token"]
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


def body(resp: Any) -> Any:
    return json.loads(resp.get_data(as_text=True))


def discover(app: Flask, mac: str = MAC) -> str:
    """The machine boots from the network: the server registers it; its token."""
    app.test_client().get(f"/boot/{mac}.ipxe")
    store = Store.in_data_dir(app.config["PROVISION"].data_dir)
    try:
        return store.host(mac).token
    finally:
        store.close()


def report(app: Flask, token: str, doc: Any, mac: str = MAC) -> Any:
    return app.test_client().post(
        f"/api/v1/hosts/{mac}/inventory", json=doc, headers={"Authorization": f"Bearer {token}"}
    )


def config(app: Flask, token: str, mac: str = MAC) -> Any:
    return app.test_client().get(
        f"/api/v1/hosts/{mac}/config", headers={"Authorization": f"Bearer {token}"}
    )


def host_row(app: Flask, mac: str = MAC) -> Any:
    store = Store.in_data_dir(app.config["PROVISION"].data_dir)
    try:
        return store.host(mac)
    finally:
        store.close()


# --- discovery -----------------------------------------------------------------------------------
def test_unknown_host_boots_discovery_when_there_is_a_live_environment(app: Flask) -> None:
    client = app.test_client()
    assert "menu provision: choose a profile" in client.get(f"/boot/{MAC}.ipxe").text
    live = app.config["PROVISION"].data_dir / "live"
    live.mkdir()
    (live / "vmlinuz").write_bytes(b"k")
    (live / "initrd.img").write_bytes(b"i")
    script = client.get(f"/boot/{MAC}.ipxe").text
    token = host_row(app).token
    assert "has no profile yet: discovering its hardware" in script
    assert f"provision.host={MAC} provision.token={token}" in script
    assert "provision.profile=" not in script


def test_rules_assign_a_profile_the_cpu_can_run(app: Flask) -> None:
    token = discover(app)
    resp = report(app, token, machine(NEHALEM_MINUS).to_doc())
    assert resp.status_code == 200, resp.text
    answer = body(resp)
    assert answer["assigned"] and answer["profile"] == "vm-amd64" and answer["rule"] == "vms"
    assert answer["hostname"] == "laptop-pf1abcde"
    assert any("cannot run laptop-amd64" in line and "popcnt, sse4_2" in line
               for line in answer["explain"])  # fmt: skip
    doc = body(config(app, token))
    assert doc["profile"]["name"] == "vm-amd64" and doc["host"]["hostname"] == "laptop-pf1abcde"
    assert doc["host"]["force_cpu"] is False
    # a later report (a reinstall) keeps the profile
    again = body(report(app, token, machine(NEHALEM_MINUS).to_doc()))
    assert again["profile"] == "vm-amd64" and again["rule"] == ""


def test_a_capable_laptop_gets_the_laptop_profile(app: Flask) -> None:
    token = discover(app)
    assert body(report(app, token, machine(NEHALEM).to_doc()))["profile"] == "laptop-amd64"


def test_non_matching_machine_waits_with_reasons(app: Flask, admin: FlaskClient) -> None:
    token = discover(app)
    desktop = machine(NEHALEM_MINUS, chassis_type=3, vendor="Dell Inc.", product="OptiPlex")
    answer = body(report(app, token, desktop.to_doc()))
    assert not answer["assigned"] and answer["profile"] == ""
    assert answer["explain"][-1] == "no rule matches: the machine waits for a profile in the picker"
    assert answer["picker"] == "http://srv:8080/picker?mac=52%3A54%3A00%3Ae2%3Af1%3A01"
    resp = config(app, token)
    assert resp.status_code == 409 and "no profile yet" in body(resp)["error"]
    # the picker shows why and marks what this CPU cannot run
    page = app.test_client().get(f"/picker?mac={MAC}").text
    assert "chassis desktop (SMBIOS type 3) is not laptop" in page
    assert 'id="profile-desktop-amd64"' in page
    assert 'data-missing="popcnt sse4_2"' in page
    # the page of the host, for the admin
    host_page = admin.get(f"/hosts/{MAC}").text
    assert "x86-64-v1" in host_page and "OptiPlex" in host_page
    assert "desktop-amd64: no — needs x86-64-v2" in host_page


def test_picker_refuses_a_profile_the_cpu_cannot_run(app: Flask, admin: FlaskClient) -> None:
    token = discover(app)
    report(app, token, machine(NEHALEM_MINUS, chassis_type=3).to_doc())
    anon = app.test_client()
    form = {"mac": MAC, "profile": "desktop-amd64", "force": "1"}
    resp = anon.post("/picker", data={**form, "csrf_token": csrf(anon, "/picker")})
    assert resp.status_code == 302
    page = anon.get(resp.headers["Location"]).text
    assert (
        "cannot run desktop-amd64: needs x86-64-v2; this CPU is x86-64-v1: missing popcnt" in page
    )
    assert host_row(app).profile == ""  # force is for admins only
    # a profile it can run is fine
    resp = anon.post("/picker", data={"mac": MAC, "profile": "server-amd64",
                                      "csrf_token": csrf(anon, "/picker")})  # fmt: skip
    assert host_row(app).profile == "server-amd64"
    # the admin may force: the installer is told so for this profile
    form = {"profile": "desktop-amd64", "force": "1", "csrf_token": csrf(admin, "/hosts")}
    resp = admin.post(f"/hosts/{MAC}/assign", data=form)
    assert host_row(app).profile == "desktop-amd64"
    assert body(config(app, token))["host"]["force_cpu"] is True
    admin.post(f"/hosts/{MAC}/assign", data={"profile": "server-amd64",
                                             "csrf_token": csrf(admin, "/hosts")})  # fmt: skip
    assert body(config(app, token))["host"]["force_cpu"] is False


def test_boot_menu_choice_is_checked(app: Flask) -> None:
    token = discover(app)
    report(app, token, machine(NEHALEM_MINUS, chassis_type=3).to_doc())
    script = app.test_client().get(f"/boot/{MAC}.ipxe?profile=laptop-amd64").text
    assert "this machine cannot run laptop-amd64: missing popcnt sse4_2" in script
    assert host_row(app).profile == ""


def test_admin_api_assign_needs_force(api: FlaskClient, app: Flask) -> None:
    token = discover(app)
    report(app, token, machine(NEHALEM_MINUS, chassis_type=3).to_doc())
    resp = api.put(f"/api/v1/hosts/{MAC}", json={"profile": "desktop-amd64"})
    assert resp.status_code == 409 and "missing popcnt, sse4_2" in body(resp)["error"]
    assert api.put(f"/api/v1/hosts/{MAC}", json={"profile": "desktop-amd64",
                                                 "force": "yes"}).status_code == 400  # fmt: skip
    resp = api.put(f"/api/v1/hosts/{MAC}", json={"profile": "desktop-amd64", "force": True})
    assert resp.status_code == 200 and body(resp)["host"]["profile"] == "desktop-amd64"


def test_admin_api_inventory_rules_and_explanation(api: FlaskClient, app: Flask) -> None:
    assert api.get(f"/api/v1/hosts/{MAC}/inventory").status_code == 404
    token = discover(app)
    assert body(api.get(f"/api/v1/hosts/{MAC}/inventory"))["inventory"] is None
    report(app, token, machine(QEMU_MAX).to_doc())
    inv = body(api.get(f"/api/v1/hosts/{MAC}/inventory"))
    assert inv["inventory"]["cpu"]["level"] == "v3"
    assert inv["inventory"]["dmi"]["chassis"] == "laptop"
    assert all(f["ok"] for f in inv["fit"].values())
    rules = body(api.get(f"/api/v1/hosts/{MAC}/rules"))
    assert rules["profile"] == "laptop-amd64"
    assert [r["rule"] for r in rules["rules"]] == ["laptops", "vms"]
    listing = body(api.get("/api/v1/rules"))
    assert listing["error"] == "" and listing["counts"] == {"laptops": 1}
    assert listing["profiles"]["desktop-amd64"]["level"] == "v2"
    assert app.test_client().get("/api/v1/rules").status_code == 401


def test_max_hosts(app: Flask) -> None:
    macs = [f"52:54:00:00:00:0{i}" for i in range(1, 4)]
    answers = []
    for mac in macs:
        token = discover(app, mac)
        inv = machine(NEHALEM_MINUS, serial="", mac=mac)
        answers.append(body(report(app, token, inv.to_doc(), mac)))
    assert [a["profile"] for a in answers] == ["vm-amd64", "vm-amd64", ""]
    assert [a["hostname"] for a in answers[:2]] == ["laptop-525400000001", "laptop-525400000002"]
    assert any("2 of max_hosts 2 assigned (full)" in line for line in answers[2]["explain"])


def test_same_serial_gets_a_unique_name(app: Flask) -> None:
    names = []
    for mac in ("52:54:00:00:00:01", "52:54:00:00:00:02"):
        token = discover(app, mac)
        names.append(body(report(app, token, machine(NEHALEM_MINUS, mac=mac).to_doc(), mac)))
    assert [n["hostname"] for n in names] == ["laptop-pf1abcde", "laptop-pf1abcde-2"]


# --- hostile reports -----------------------------------------------------------------------------
def test_report_needs_the_host_token(app: Flask) -> None:
    token = discover(app)
    doc = machine().to_doc()
    assert report(app, "", doc).status_code == 401
    assert report(app, token + "x", doc).status_code == 401
    assert report(app, token, doc, mac="52:54:00:99:99:99").status_code == 401
    assert report(app, token, doc, mac="not-a-mac").status_code == 404


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        pytest.param(b"[" * 100 + b"]" * 100, 400, "expected a JSON object", id="deep"),
        pytest.param(b"{", 400, "expected a JSON object", id="broken"),
        pytest.param(b'{"memory": NaN}', 400, "expected a JSON object", id="nan"),
        pytest.param(b"\xff\xfe", 400, "expected a JSON object", id="encoding"),
        pytest.param(b'{"cpu": {"flags": ["' + b"a" * 300000 + b'"]}}', 413, "exceeds the capacity",
                     id="too-large"),
        pytest.param(b'{"memory": -1}', 400, "memory: expected an integer", id="field"),
    ],
)  # fmt: skip
def test_hostile_bodies(app: Flask, raw: bytes, status: int, message: str) -> None:
    token = discover(app)
    resp = app.test_client().post(
        f"/api/v1/hosts/{MAC}/inventory", data=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert resp.status_code == status, resp.text
    assert message in body(resp)["error"]


# --- rules with errors ------------------------------------------------------------------------
def test_broken_rules_assign_nothing_and_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = profiles_dir(tmp_path / "p", '[[rule]]\nprofile = "gaming"\n')
    made = make_app(tmp_path / "data", profiles)
    try:
        token = discover(made)
        answer = body(report(made, token, machine().to_doc()))
        assert not answer["assigned"]
        assert "rules.toml has an error" in answer["explain"][0]
        admin = made.test_client()
        login(admin)
        page = admin.get("/rules").text
        assert "unknown profile &#39;gaming&#39;" in page
    finally:
        close_app(made)
    rc = main(["--profiles-dir", str(profiles), "profiles", "check"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "rules.toml: rule 1.profile: unknown profile 'gaming'" in err
    assert main(["--profiles-dir", str(profiles), "rules", "check"]) == 2


def test_rules_page_lists_rules_and_requirements(admin: FlaskClient) -> None:
    page = admin.get("/rules").text
    assert "laptops" in page and "{chassis}-{serial}" in page
    assert "x86-64-v2" in page and "-march=x86-64-v2 (CFLAGS, CXXFLAGS)" in page


# --- power ---------------------------------------------------------------------------------------
def test_power_settings_hide_the_password(
    api: FlaskClient, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    discover(app)
    caplog.set_level(logging.DEBUG)
    settings = {"driver": "redfish", "address": "http://192.0.2.9:8000", "system": "vm1",
                "username": "admin", "password": "hunter2-secret"}  # fmt: skip
    assert (
        api.put(
            f"/api/v1/hosts/{MAC}/power", json={"driver": "ipmi", "address": "192.0.2.9"}
        ).status_code
        == 400
    )  # fmt: skip  (password needed)
    resp = api.put(f"/api/v1/hosts/{MAC}/power", json=settings)
    assert resp.status_code == 200
    shown = body(api.get(f"/api/v1/hosts/{MAC}/power"))["power"]
    assert shown["password_set"] is True and "password" not in shown
    assert shown["address"] == "http://192.0.2.9:8000" and shown["system"] == "vm1"
    # a change without the password keeps it
    resp = api.put(f"/api/v1/hosts/{MAC}/power", json={**settings, "password": None,
                                                        "system": "vm2"})  # fmt: skip
    assert body(resp)["power"]["password_set"] is True
    data_dir: Path = app.config["PROVISION"].data_dir
    db = sqlite3.connect(data_dir / "provision.sqlite")
    ((stored, secret),) = db.execute("SELECT settings, secret FROM fleet_power").fetchall()
    db.close()
    assert "hunter2" not in stored and "hunter2" not in secret and secret
    page = api.get(f"/hosts/{MAC}").text
    assert "hunter2" not in page and "password set" in page
    assert "hunter2" not in caplog.text
    assert api.delete(f"/api/v1/hosts/{MAC}/power").status_code == 204
    assert body(api.get(f"/api/v1/hosts/{MAC}/power")) == {"power": None}


def test_power_actions_without_settings(api: FlaskClient, app: Flask) -> None:
    discover(app)
    assert api.post(f"/api/v1/hosts/{MAC}/power/on").status_code == 404
    assert api.post(f"/api/v1/hosts/{MAC}/power/explode").status_code == 404
    resp = api.post(f"/api/v1/hosts/{MAC}/reinstall", json={})
    assert resp.status_code == 200 and body(resp)["power"] is None


def test_power_failure_is_reported_not_raised(api: FlaskClient, app: Flask) -> None:
    """A BMC nobody answers for (a closed port on loopback): the reinstall is recorded and the
    failure reported; a direct power action is refused with 409."""
    discover(app)
    api.put(f"/api/v1/hosts/{MAC}/power", json={"driver": "wol", "broadcast": "127.255.255.255",
                                                "interface": "nosuchif0"})  # fmt: skip
    resp = api.post(f"/api/v1/hosts/{MAC}/reinstall", json={})
    assert resp.status_code == 200
    assert body(resp)["power"]["ok"] is False and "nosuchif0" in body(resp)["power"]["error"]
    assert host_row(app).boot_local is False
    resp = api.post(f"/api/v1/hosts/{MAC}/power/on")
    assert resp.status_code == 409 and "Wake-on-LAN" in body(resp)["error"]


def test_fleet_rows_go_with_the_host(api: FlaskClient, app: Flask) -> None:
    token = discover(app)
    report(app, token, machine().to_doc())
    api.put(f"/api/v1/hosts/{MAC}/power", json={"driver": "wol"})
    assert api.delete(f"/api/v1/hosts/{MAC}").status_code == 204
    store = FleetStore.in_data_dir(app.config["PROVISION"].data_dir)
    try:
        assert store.inventory(MAC) is None and store.power(MAC) is None
    finally:
        store.close()


def test_openapi_describes_the_fleet(app: Flask) -> None:
    spec = json.loads(app.test_client().get("/api/v1/openapi.json").text)
    assert "post" in spec["paths"]["/api/v1/hosts/{mac}/inventory"]
    assert "put" in spec["paths"]["/api/v1/hosts/{mac}/power"]
    assert "Inventory" in spec["components"]["schemas"]


def test_rules_test_explains_a_host(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    token = discover(app)
    report(app, token, machine(NEHALEM_MINUS).to_doc())
    settings = app.config["PROVISION"]
    base = ["--data-dir", str(settings.data_dir), "--profiles-dir", str(settings.profiles_dir)]
    capsys.readouterr()
    assert main([*base, "rules", "test", MAC]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        f"{MAC} (laptop-pf1abcde): laptop, LENOVO ThinkPad T480, CPU x86-64-v1"
    )
    assert out[1] == "current profile: vm-amd64 (by rule vms)"
    assert out[2] == (
        "rule laptops (→ laptop-amd64): no: the CPU cannot run laptop-amd64: needs x86-64-v2; "
        "this CPU is x86-64-v1: missing popcnt, sse4_2"
    )
    assert out[-1] == "assigned vm-amd64 as laptop-pf1abcde by rule vms"
    assert main([*base, "rules", "test", "laptop-pf1abcde", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "vm-amd64" and doc["rules"][0]["matches"] is False
    assert main([*base, "rules", "test", "52:54:00:00:00:99"]) == 2
    assert "no host" in capsys.readouterr().err
    assert main([*base, "rules", "show"]) == 0
    assert "vms              -> vm-amd64" in capsys.readouterr().out


def test_profiles_show_prints_the_cpu_requirement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--profiles-dir", str(PROFILES), "profiles", "show", "desktop-amd64"]) == 0
    out = capsys.readouterr().out
    assert "cpu requirement: x86-64-v2\n" in out
    assert "  from -march=x86-64-v2 (CFLAGS, CXXFLAGS)\n" in out
    assert main(["--profiles-dir", str(PROFILES), "profiles", "show", "vm-amd64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cpu_requirement"]["level"] == "v1"


def test_power_networks_limit_where_power_control_sends(tmp_path: Path) -> None:
    """server.toml power_networks: BMC addresses and broadcasts must be IP addresses inside."""
    from provision.server.settings import parse_settings

    settings = parse_settings(
        {"secret_key": "s" * 32, "admin_password_hash": HASH,
         "power_networks": ["192.0.2.0/24", "127.0.0.0/8"]},
        "server.toml", tmp_path / "data", profiles_dir(tmp_path / "p"), {},
    )  # fmt: skip
    made = create_app(settings)
    try:
        discover(made)
        api = made.test_client()
        token = body(api.post("/api/v1/auth/token", json={"password": PASSWORD}))["token"]
        api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        url = f"/api/v1/hosts/{MAC}/power"
        for doc, message in (
            ({"driver": "ipmi", "address": "198.51.100.7", "password": "p"},
             "198.51.100.7 is outside the power networks (192.0.2.0/24, 127.0.0.0/8)"),
            ({"driver": "redfish", "address": "https://bmc.example.org", "password": "p"},
             "'bmc.example.org': give an IP address"),
            ({"driver": "wol"}, "255.255.255.255 is outside the power networks"),
        ):  # fmt: skip
            resp = api.put(url, json=doc)
            assert resp.status_code == 400 and message in body(resp)["error"], body(resp)
        ok = {"driver": "redfish", "address": "http://192.0.2.10:8000", "password": "p"}
        assert api.put(url, json=ok).status_code == 200
        assert api.put(url, json={"driver": "wol", "broadcast": "192.0.2.255"}).status_code == 200
    finally:
        close_app(made)


def test_host_page_power_form_and_buttons(app: Flask, admin: FlaskClient) -> None:
    discover(app)
    form = {"driver": "wol", "interface": "nosuchif0", "broadcast": "127.255.255.255",
            "port": "7", "csrf_token": csrf(admin, f"/hosts/{MAC}")}  # fmt: skip
    resp = admin.post(f"/hosts/{MAC}/power", data=form)
    assert resp.status_code == 302
    page = admin.get(f"/hosts/{MAC}").text
    assert "Wake-on-LAN to 127.255.255.255:7 on nosuchif0" in page  # the flash
    assert 'id="power-on"' in page
    resp = admin.post(f"/hosts/{MAC}/power/on", data={"csrf_token": csrf(admin, f"/hosts/{MAC}")})
    assert resp.status_code == 302
    assert "failed" in admin.get(f"/hosts/{MAC}").text  # no such interface: said, not raised
    bad = {"driver": "ipmi", "address": "10.0.0.1", "port": "x",
           "csrf_token": csrf(admin, f"/hosts/{MAC}")}  # fmt: skip
    admin.post(f"/hosts/{MAC}/power", data=bad)
    assert "power.port: expected a port number" in admin.get(f"/hosts/{MAC}").text
    none = {"driver": "none", "csrf_token": csrf(admin, f"/hosts/{MAC}")}
    admin.post(f"/hosts/{MAC}/power", data=none)
    assert "No power control" in admin.get(f"/hosts/{MAC}").text
    # without the CSRF token nothing changes
    assert admin.post(f"/hosts/{MAC}/power", data={"driver": "wol"}).status_code == 400
    assert app.test_client().post(f"/hosts/{MAC}/power/on").status_code == 302  # to login


def test_audit_records_power(api: FlaskClient, app: Flask) -> None:
    discover(app)
    api.put(f"/api/v1/hosts/{MAC}/power", json={"driver": "wol", "interface": "nosuchif0"})
    api.post(f"/api/v1/hosts/{MAC}/power/on")
    entries = body(api.get("/api/v1/audit"))["entries"]
    actions = [(e["action"], e["ok"]) for e in entries if e["action"].startswith("host-power")]
    assert ("host-power-settings", True) in actions and ("host-power", False) in actions
