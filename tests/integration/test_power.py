"""Power control with real emulators, through the server's API: `provision serve` in a lab
network namespace switches libvirt domains (QEMU TCG) on, off and into a network boot with
Redfish (sushy-tools' emulator) and IPMI (virtualbmc), and sends a Wake-on-LAN magic packet
that another namespace on the lab bridge captures.  The guests are busybox machines that
print their DMI facts (a laptop: LENOVO, chassis type 10 from a raw SMBIOS structure)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.power_lab import (
    Domain,
    Libvirt,
    VirtualBmc,
    chassis_structure,
    curl_json,
    guest_bootkit,
    libvirt_lab,
    sniff_magic_argv,
    sushy_emulator,
    virtual_bmc,
    wait_text,
    world_dir,
)
from tests.vm.netns import SERVER_IP, Daemon, Lab

pytestmark = pytest.mark.timeout(600)
BASE = f"http://{SERVER_IP}:8080"
PASSWORD = "power-admin-password"
SECRET = "power-test-secret-0123456789abcdef"
BMC_USER, BMC_PASSWORD = "admin", "bmc-pass-Zq7"
REDFISH_MAC = "52:54:00:f1:00:01"
IPMI_MAC = "52:54:00:f1:00:02"
WOL_MAC = "52:54:00:f1:00:03"
IPMI_PORT = 6230


@dataclass
class PowerLab:
    lab: Lab
    virt: Libvirt
    redfish: str
    bmc: VirtualBmc
    server: Daemon
    token: str
    domains: dict[str, Domain]

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        code, text = curl_json(
            self.lab, method, f"{BASE}{path}", self.token, json.dumps(body) if body else ""
        )
        return code, (json.loads(text) if text.strip() else {})


def start_server(lab: Lab, data: Path) -> tuple[Daemon, str]:
    data.mkdir(parents=True)
    pw_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    (data / "server.toml").write_text(
        f'secret_key = "{SECRET}"\nadmin_password_hash = "{pw_hash}"\nbase_url = "{BASE}"\n'
        'power_networks = ["127.0.0.0/8", "192.0.2.0/24"]\n'
    )
    store = Store.in_data_dir(data)
    try:
        for mac in (REDFISH_MAC, IPMI_MAC, WOL_MAC):
            store.upsert_host(mac, profile="vm-amd64")
    finally:
        store.close()
    argv: list[str | Path] = [
        sys.executable, "-m", "provision", "--data-dir", data, "--profiles-dir", PROFILES,
        "serve", "--listen", f"{SERVER_IP}:8080", "--base-url", BASE, "--no-build",
    ]  # fmt: skip
    server = lab.start("server", argv)
    lab.wait_http(f"{BASE}/healthz", timeout=60)
    code, text = curl_json(
        lab, "POST", f"{BASE}/api/v1/auth/token", "", json.dumps({"password": PASSWORD})
    )
    assert code == 200, text
    return server, str(json.loads(text)["token"])


@pytest.fixture(scope="module")
def power(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerLab]:
    work = tmp_path_factory.mktemp("power")
    files = world_dir("provision-power-")
    try:
        with Lab.create(work, prefix="pw") as lab, libvirt_lab(lab, files) as virt:
            kernel, initrd = guest_bootkit(files)
            chassis = files / "chassis-notebook.bin"
            chassis.write_bytes(chassis_structure(10, "Provision Labs", "CHS-0042"))
            chassis.chmod(0o644)
            laptop = {"manufacturer": "LENOVO", "product": "ThinkPad T480", "serial": "PF1ABCDE"}
            domains = {}
            for kind, mac in (("redfish", REDFISH_MAC), ("ipmi", IPMI_MAC)):
                d = Domain(f"{lab.name}-{kind}", mac, files, kernel=kernel, initrd=initrd,
                           system=laptop, chassis=chassis)  # fmt: skip
                virt.define(d)
                domains[kind] = d
            server, token = start_server(lab, work / "data")
            with (
                sushy_emulator(lab, work, virt.uri) as redfish,
                virtual_bmc(lab, work, virt.uri) as bmc,
            ):
                bmc.add(domains["ipmi"].name, IPMI_PORT, BMC_USER, BMC_PASSWORD)
                yield PowerLab(lab, virt, redfish, bmc, server, token, domains)
    finally:
        shutil.rmtree(files, ignore_errors=True)


def test_redfish_power_and_network_boot(power: PowerLab) -> None:
    d = power.domains["redfish"]
    settings = {"driver": "redfish", "address": power.redfish, "system": d.name,
                "username": BMC_USER, "password": BMC_PASSWORD}  # fmt: skip
    code, body = power.api("PUT", f"/api/v1/hosts/{REDFISH_MAC}/power", settings)
    assert code == 200, body
    assert body["power"] == {"driver": "redfish", "address": power.redfish, "system": d.name,
                             "username": BMC_USER, "verify_tls": True, "boot": "pxe",
                             "password_set": True}  # fmt: skip
    code, body = power.api("POST", f"/api/v1/hosts/{REDFISH_MAC}/power/on")
    assert code == 200 and body["power"]["state"] == "on", body
    power.virt.wait_state(d.name, "running", 30)
    # the machine is the laptop the rules will see: DMI from sysinfo and the raw chassis
    wait_text(d.console, "GUEST-UP vendor=LENOVO chassis=10", 120)
    code, body = power.api("POST", f"/api/v1/hosts/{REDFISH_MAC}/power/off")
    assert code == 200 and body["power"]["state"] == "off", body
    assert power.virt.state(d.name) == "shut off"
    # reinstall: boot once from the network (Pxe) and power on
    code, body = power.api("POST", f"/api/v1/hosts/{REDFISH_MAC}/reinstall", {})
    assert code == 200, body
    assert body["power"]["ok"] is True and body["power"]["state"] == "on", body
    power.virt.wait_state(d.name, "running", 30)
    xml = power.virt.inactive_xml(d.name)
    nic = xml[xml.index("<interface") : xml.index("</interface>")]
    assert "<boot order='1'/>" in nic, nic  # the NIC boots first
    code, body = power.api("POST", f"/api/v1/hosts/{REDFISH_MAC}/power/cycle")
    assert code == 200 and body["power"]["state"] == "on", body
    power.api("POST", f"/api/v1/hosts/{REDFISH_MAC}/power/off")


def test_ipmi_power_and_network_boot(power: PowerLab) -> None:
    d = power.domains["ipmi"]
    bad = {"driver": "ipmi", "address": "127.0.0.1", "port": IPMI_PORT, "username": BMC_USER,
           "password": "wrong-password-X9"}  # fmt: skip
    assert power.api("PUT", f"/api/v1/hosts/{IPMI_MAC}/power", bad)[0] == 200
    code, body = power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/power/status")
    assert code == 409 and "IPMI 127.0.0.1:6230" in str(body["error"]), body
    assert "wrong-password-X9" not in json.dumps(body)
    good = {**bad, "password": BMC_PASSWORD}
    assert power.api("PUT", f"/api/v1/hosts/{IPMI_MAC}/power", good)[0] == 200
    code, body = power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/power/status")
    assert code == 200 and body["power"]["state"] == "off", body
    code, body = power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/power/cycle")  # off: switched on
    assert code == 200 and body["power"]["state"] == "on", body
    power.virt.wait_state(d.name, "running", 30)
    code, body = power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/power/off")
    assert code == 200 and body["power"]["state"] == "off", body
    code, body = power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/reinstall", {})
    assert code == 200 and body["power"]["ok"] is True, body
    power.virt.wait_state(d.name, "running", 30)
    assert "<boot dev='network'/>" in power.virt.inactive_xml(d.name)
    power.api("POST", f"/api/v1/hosts/{IPMI_MAC}/power/off")


def test_wake_on_lan_reaches_the_lab_bridge(power: PowerLab) -> None:
    """The magic packet for the host's MAC leaves on br0 as a UDP broadcast and arrives at
    another namespace on the bridge (a machine's NIC would see the same frame)."""
    lab = power.lab
    peer = lab.add_peer("20")
    sniffer = lab.start("wol-sniffer", sniff_magic_argv("eth0", 20), netns=peer,
                        ready="SNIFFING", timeout=30)  # fmt: skip
    settings = {"driver": "wol", "interface": "br0", "broadcast": "192.0.2.255"}
    assert power.api("PUT", f"/api/v1/hosts/{WOL_MAC}/power", settings)[0] == 200
    code, body = power.api("POST", f"/api/v1/hosts/{WOL_MAC}/power/on")
    assert code == 200 and "magic packet sent" in str(body["power"]), body
    sniffer.wait_for(f"MAGIC 0800 {WOL_MAC}", timeout=20)
    code, body = power.api("POST", f"/api/v1/hosts/{WOL_MAC}/power/off")
    assert code == 409 and "Wake-on-LAN can only switch a machine on" in str(body["error"])
