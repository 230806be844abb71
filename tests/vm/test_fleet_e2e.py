"""Zero-touch fleet, proved by boot.  A blank libvirt machine (QEMU TCG) that looks like a
laptop (SMBIOS type 1 LENOVO / ThinkPad T480 / PF1ABCDE, chassis type 10 from a raw type-3
structure) with a CPU below the desktop/laptop profiles' x86-64-v2 (Nehalem without sse4.2 and
popcnt) is switched on and nobody touches it again:

1. it boots from the network (its disk is blank), the server has never seen it: it boots the
   live environment to discover it; the live environment reports its hardware; the rules pick
   the laptop VM profile (vm-amd64), not laptop-amd64, whose binaries its CPU cannot run;
   it installs, reboots from its disk and the installed system prints its markers;
2. "Reinstall" from the admin API: the server, through the host's Redfish BMC (sushy-tools'
   emulator driving the same libvirt domain), sets a one-time network boot and switches the
   machine on; it installs again and boots its disk again.

The server, dnsmasq, libvirtd and the emulator run in the lab namespace of tests/vm/e2e.py
(libvirtd there puts the machine's NIC on the lab's bridge); the vm-amd64 binhost and the live
environment are built once for the module, as in test_e2e_boot.py.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from provision.hosts import HostState
from tests.conftest import PROFILES
from tests.integration.power_lab import (
    Domain,
    Libvirt,
    chassis_structure,
    curl_json,
    libvirt_lab,
    sushy_emulator,
    wait_text,
    world_dir,
)
from tests.vm.e2e import ARTIFACTS, BASE_URL, DISK_SIZE, MARKER, MEMORY, Stack, e2e_stack

pytestmark = [pytest.mark.vm, pytest.mark.timeout(2400)]
MAC = "52:54:00:e2:f1:09"
PASSWORD = "fleet-admin-password"
INSTALL_TIMEOUT = 900
HOSTNAME = "laptop-pf1abcde"
RULES = """
# laptops get the laptop profile, if their CPU can run it
[[rule]]
name = "laptops"
profile = "laptop-amd64"
chassis = "laptop"
hostname = "{chassis}-{serial}"

# virtual laptops (QEMU's MAC prefix) get the VM profile
[[rule]]
name = "laptop-vms"
profile = "vm-amd64"
chassis = "laptop"
vendor = "LENOVO"
mac_prefix = "52:54:00"
hostname = "{chassis}-{serial}"
"""


def fleet_profiles(root: Path) -> Path:
    root.mkdir()
    for item in PROFILES.iterdir():
        (root / item.name).symlink_to(item)
    (root / "rules.toml").write_text(RULES)
    return root


@dataclass
class Fleet:
    stack: Stack
    virt: Libvirt
    domain: Domain
    redfish: str
    token: str

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        code, text = curl_json(
            self.stack.lab, method, f"{BASE_URL}{path}", self.token,
            json.dumps(body) if body is not None else "",
        )  # fmt: skip
        return code, json.loads(text) if text.strip() else None

    def console(self) -> str:
        path = self.domain.console
        return path.read_text(errors="replace") if path.exists() else ""

    def keep(self, phase: str) -> None:
        dest = ARTIFACTS / "fleet-e2e"
        dest.mkdir(parents=True, exist_ok=True)
        if self.domain.console.exists():
            shutil.copyfile(self.domain.console, dest / f"{phase}-console.log")
        for log in (self.stack.server.log, self.stack.data / "dnsmasq.log"):
            if log.is_file():
                shutil.copyfile(log, dest / log.name)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("fleet")
    profiles = fleet_profiles(work / "profiles")
    pw_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    extra = f'admin_password_hash = "{pw_hash}"\npower_networks = ["127.0.0.0/8"]\n'
    files = world_dir("provision-fleet-")
    try:
        with e2e_stack(work, profiles, extra) as stack, libvirt_lab(stack.lab, files) as virt:
            chassis = files / "chassis-notebook.bin"
            chassis.write_bytes(chassis_structure(10, "LENOVO", "CHS-0042"))
            chassis.chmod(0o644)
            disk = files / "disk.img"
            with open(disk, "wb") as fh:
                fh.truncate(DISK_SIZE)
            domain = Domain(
                f"{stack.lab.name}-laptop", MAC, files, memory_mib=MEMORY, disk=disk,
                cpu_model="Nehalem", cpu_disable=("sse4.2", "popcnt"),
                system={"manufacturer": "LENOVO", "product": "ThinkPad T480",
                        "serial": "PF1ABCDE", "family": "ThinkPad"},
                chassis=chassis, boot_order=(1, 2),  # the disk first, then the network
            )  # fmt: skip
            virt.define(domain)
            code, text = curl_json(
                stack.lab, "POST", f"{BASE_URL}/api/v1/auth/token", "",
                json.dumps({"password": PASSWORD}),
            )  # fmt: skip
            assert code == 200, text
            with sushy_emulator(stack.lab, work, virt.uri) as redfish:
                yield Fleet(stack, virt, domain, redfish, str(json.loads(text)["token"]))
    finally:
        shutil.rmtree(files, ignore_errors=True)


def wait_for_marker_and_off(fleet: Fleet, timeout: float) -> str:
    """The installer finishes, the machine reboots from its disk, the installed system prints
    its markers and powers off."""
    wait_text(fleet.domain.console, "provision-install: finish", timeout)
    wait_text(fleet.domain.console, f"{MARKER} done", 300)
    fleet.virt.wait_state(fleet.domain.name, "shut off", 30)
    return fleet.console()


def test_blank_laptop_installs_itself_then_reinstalls_by_redfish(fleet: Fleet) -> None:
    name = fleet.domain.name
    try:
        # --- 1. power on, nobody touches it -------------------------------------------------
        t0 = time.monotonic()
        fleet.virt.virsh("start", name)  # the power button, once
        console = wait_for_marker_and_off(fleet, INSTALL_TIMEOUT)
        first = time.monotonic() - t0
        assert (
            "provision-install: hardware: Intel Core i7 9xx (Nehalem Class Core i7) "
            "(x86-64-v1)" in console
        ), console[-3000:]
        assert "laptop LENOVO ThinkPad T480" in console
        assert f"provision-install: rule laptop-vms assigned profile vm-amd64 as {HOSTNAME}" in (
            console
        )
        assert f"{MARKER} hostname={HOSTNAME}" in console
        host, events = fleet.stack.host(MAC)
        assert (host.profile, host.hostname, host.state) == (
            "vm-amd64", HOSTNAME, HostState.INSTALLED,
        )  # fmt: skip
        assert host.boot_local
        # what the server knows: the inventory, the fit, the decision
        code, inv = fleet.api("GET", f"/api/v1/hosts/{MAC}/inventory")
        assert code == 200, inv
        doc = inv["inventory"]
        assert doc["cpu"]["level"] == "v1" and "sse4_2" not in doc["cpu"]["flags"]
        laptop = {"vendor": "LENOVO", "product": "ThinkPad T480", "serial": "PF1ABCDE"}
        assert doc["dmi"] == {**laptop, "chassis_type": 10, "chassis": "laptop"}
        assert doc["firmware"] == {"kind": "bios", "secure_boot": "unsupported"}
        assert [d["bus"] for d in doc["disks"]] == ["virtio"]
        assert doc["memory"] >= 1 << 30
        assert MAC in [n["mac"] for n in doc["nics"]]
        assert inv["fit"]["laptop-amd64"]["missing"] == ["popcnt", "sse4_2"]
        assert inv["fit"]["vm-amd64"]["ok"] is True
        code, rules = fleet.api("GET", f"/api/v1/hosts/{MAC}/rules")
        assert rules["rules"][0]["rule"] == "laptops" and not rules["rules"][0]["matches"]
        assert "cannot run laptop-amd64" in rules["rules"][0]["reasons"][0]
        fleet.keep("install")

        # --- 2. reinstall from the API: Redfish boots it from the network -------------------
        settings = {"driver": "redfish", "address": fleet.redfish, "system": name,
                    "username": "admin", "password": "redfish-secret"}  # fmt: skip
        code, body = fleet.api("PUT", f"/api/v1/hosts/{MAC}/power", settings)
        assert code == 200, body
        t1 = time.monotonic()
        code, body = fleet.api("POST", f"/api/v1/hosts/{MAC}/reinstall", {})
        assert code == 200 and body["power"]["ok"] is True, body
        assert body["host"]["boot_local"] is False
        fleet.virt.wait_state(name, "running", 60)
        console = wait_for_marker_and_off(fleet, INSTALL_TIMEOUT)
        second = time.monotonic() - t1
        assert "provision-install: hardware: " in console  # reported again...
        assert "assigned profile" not in console  # ...but it had its profile: no rule ran
        assert f"{MARKER} hostname={HOSTNAME}" in console
        host, events = fleet.stack.host(MAC)
        assert host.state is HostState.INSTALLED and host.boot_local
        assert [e.kind.value for e in events].count("finish") == 2
        print(f"\nfleet e2e: discovery + install + disk boot {first:.0f} s; "
              f"reinstall by Redfish + disk boot {second:.0f} s")  # fmt: skip
        fleet.keep("reinstall")
    except BaseException:
        fleet.keep("failed")
        raise
