"""A power lab for tests: libvirt (QEMU under TCG) run inside a lab network namespace, and the
two BMC emulators that drive its domains: sushy-tools (Redfish) and virtualbmc (IPMI).

    with Lab.create(work) as lab, libvirt_lab(lab, files) as virt:
        virt.define(domain_xml(Domain("pw-1", mac, files, kernel=..., initrd=...)))
        with sushy_emulator(lab, work) as redfish_url, virtual_bmc(lab, work) as bmc:
            bmc.add("pw-1", 6230)
            ...

Why inside the namespace: libvirtd creates the taps of `<interface type='bridge'>` in its own
network namespace, so the guests' NICs land on the lab's bridge and nothing reaches the
host's network.  libvirtd also runs in a private mount namespace with its own state
directories, so it neither uses nor disturbs a libvirtd the machine may run.  Files handed to
QEMU live in a world-traversable directory (QEMU runs as libvirt-qemu), and the emulators run as
processes from this venv, never imported (sushy-tools warns at import under -W error).
Everything started here is stopped by its own pid; domains are destroyed and undefined.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from provision.live.initramfs import base_entries, find_busybox, find_kernel, write_initramfs
from provision.run import run
from tests.vm.netns import Lab

URI = "qemu:///system"
VENV_BIN = Path(sys.executable).parent
GUEST_INIT = """#!/bin/sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "GUEST-UP vendor=$(/bin/busybox cat /sys/class/dmi/id/sys_vendor)" \
  "chassis=$(/bin/busybox cat /sys/class/dmi/id/chassis_type)"
while true; do /bin/busybox sleep 5; echo GUEST-ALIVE; done
"""


def world_dir(prefix: str) -> Path:
    """A directory QEMU (user libvirt-qemu) can reach: not under pytest's 0700 base."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o755)
    return path


def guest_bootkit(files: Path) -> tuple[Path, Path]:
    """A kernel and a busybox initramfs that prints GUEST-UP (with DMI facts) and idles."""
    kernel = files / "vmlinuz"
    initrd = files / "guest.img"
    if not kernel.exists():
        shutil.copyfile(find_kernel(), kernel)
        write_initramfs(initrd, base_entries(find_busybox(), GUEST_INIT))
    for path in (kernel, initrd):
        path.chmod(0o644)
    return kernel, initrd


def chassis_structure(chassis_type: int, manufacturer: str, serial: str) -> bytes:
    """A raw SMBIOS type-3 (chassis) structure for `-smbios file=`: QEMU 7.2's own type=3
    option has no chassis type.  Strings: 1 manufacturer, 2 version, 3 serial."""
    header = struct.pack("<BBH", 3, 0x15, 0x0300)
    body = struct.pack("<BBBBBBBBBIBBBB", 1, chassis_type, 2, 3, 0, 3, 3, 3, 3, 0, 0, 0, 0, 0)
    strings = b"".join(s.encode() + b"\0" for s in (manufacturer, "1.0", serial)) + b"\0"
    return header + body + strings


@dataclass(frozen=True)
class Domain:
    """What a test machine is made of (pure data; domain_xml renders it)."""

    name: str
    mac: str
    files: Path
    memory_mib: int = 256
    kernel: Path | None = None  # direct kernel boot (the busybox guest)
    initrd: Path | None = None
    cmdline: str = "console=ttyS0 quiet panic=-1"
    disk: Path | None = None
    cpu_model: str = "qemu64"
    cpu_disable: tuple[str, ...] = ()
    system: dict[str, str] = field(default_factory=dict)  # SMBIOS type 1
    chassis: Path | None = None  # a raw type-3 structure file
    boot: tuple[str, ...] = ("hd",)  # <os><boot dev=...> (vbmc sets this; sushy uses order)
    # per-device boot order (disk, NIC) instead of <os><boot>, as sushy-tools writes it
    boot_order: tuple[int, int] | None = None
    uuid: str = field(default_factory=lambda: str(__import__("uuid").uuid4()))

    @property
    def console(self) -> Path:
        return self.files / f"{self.name}-console.log"


def domain_xml(d: Domain) -> str:
    """libvirt XML: a TCG (type qemu) q35 machine with SeaBIOS, a virtio NIC on br0 of the
    namespace libvirtd runs in, the serial console in a file (pure)."""
    sysinfo = ""
    if d.system:
        entries = "".join(
            f"<entry name={quoteattr(k)}>{escape(v)}</entry>" for k, v in d.system.items()
        )
        sysinfo = f"<sysinfo type='smbios'><system>{entries}</system></sysinfo>"
    direct = ""
    if d.kernel is not None:
        direct = f"<kernel>{d.kernel}</kernel><initrd>{d.initrd}</initrd>"
        direct += f"<cmdline>{escape(d.cmdline)}</cmdline>"
    boots = "" if d.boot_order else "".join(f"<boot dev='{dev}'/>" for dev in d.boot)
    disk_order, nic_order = (
        (f"<boot order='{d.boot_order[0]}'/>", f"<boot order='{d.boot_order[1]}'/>")
        if d.boot_order
        else ("", "")
    )
    smbios = "<smbios mode='sysinfo'/>" if d.system else ""
    disabled = "".join(f"<feature policy='disable' name='{f}'/>" for f in d.cpu_disable)
    disk = ""
    if d.disk is not None:
        disk = (
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{d.disk}'/><target dev='vda' bus='virtio'/>{disk_order}</disk>"
        )
    extra = ""
    if d.chassis is not None:
        extra = (
            "<qemu:commandline><qemu:arg value='-smbios'/>"
            f"<qemu:arg value='file={d.chassis}'/></qemu:commandline>"
        )
    return (
        "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        f"<name>{d.name}</name><uuid>{d.uuid}</uuid>"
        f"<memory unit='MiB'>{d.memory_mib}</memory><vcpu>1</vcpu>{sysinfo}"
        f"<os><type arch='x86_64' machine='q35'>hvm</type>{direct}{boots}{smbios}</os>"
        f"<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>"
        f"{d.cpu_model}</model>{disabled}</cpu>"
        "<features><acpi/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
        "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
        f"{disk}"
        f"<interface type='bridge'><source bridge='br0'/><mac address='{d.mac}'/>"
        f"<model type='virtio'/>{nic_order}</interface>"
        f"<serial type='file'><source path='{d.console}'/><target port='0'/></serial>"
        "<graphics type='vnc' port='-1' listen='127.0.0.1'/>"
        f"</devices>{extra}</domain>"
    )


STATE_DIRS = {  # libvirt's global state, bound to private directories for the lab's daemon
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}


@dataclass
class Libvirt:
    lab: Lab
    files: Path
    uri: str = URI
    domains: list[str] = field(default_factory=list)

    def virsh(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        return run(["virsh", "-c", self.uri, *args], check=check, timeout=timeout).stdout

    def define(self, d: Domain) -> None:
        xml = self.files / f"{d.name}.xml"
        xml.write_text(domain_xml(d))
        self.virsh("define", str(xml))
        self.domains.append(d.name)

    def state(self, name: str) -> str:
        return self.virsh("domstate", name).strip()

    def wait_state(self, name: str, want: str, timeout: float = 60) -> float:
        start = time.monotonic()
        while self.state(name) != want:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{name}: not {want} after {timeout} s ({self.state(name)})")
            time.sleep(0.3)
        return time.monotonic() - start

    def inactive_xml(self, name: str) -> str:
        return self.virsh("dumpxml", "--inactive", name)

    def remove(self, name: str) -> None:
        self.virsh("destroy", name, check=False)
        self.virsh("undefine", "--nvram", name, check=False)


def private_libvirtd_argv(state: Path) -> list[str]:
    """virtlogd + libvirtd in a private mount namespace whose /run/libvirt, /var/lib/libvirt,
    /var/cache/libvirt and /var/log/libvirt are directories of `state` (pure).  libvirtd
    runs in the foreground; virtlogd is its sibling in the same process group."""
    binds = " && ".join(
        f"mount --bind {state / name} {target}" for name, target in STATE_DIRS.items()
    )
    script = f"{binds} && {{ virtlogd & }} && exec libvirtd"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


@contextmanager
def libvirt_lab(lab: Lab, files: Path) -> Iterator[Libvirt]:
    """A libvirtd of the lab's own: in its network namespace (the guests' taps land on br0)
    and in a private mount namespace (its sockets and state under `files`, so a libvirtd
    the machine runs as a service is neither used nor disturbed).  Clients reach it with
    qemu:///system?socket=...; it is stopped by its pid with its domains."""
    state = files / "libvirt-state"
    for name in STATE_DIRS:
        (state / name).mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    uri = f"{URI}?socket={state / 'run' / 'libvirt-sock'}"
    daemon = lab.start("libvirtd", private_libvirtd_argv(state))
    virt = Libvirt(lab, files, uri)
    try:
        deadline = time.monotonic() + 60
        while True:
            res = run(["virsh", "-c", uri, "version"], check=False, timeout=30)
            if res.returncode == 0:
                break
            if daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"libvirtd did not come up:\n{daemon.text()}\n{res.stderr}")
            time.sleep(0.3)
        yield virt
    finally:
        for name in virt.domains:
            virt.remove(name)
        daemon.stop()
        lab.daemons[:] = [d for d in lab.daemons if d is not daemon]


def free_port() -> int:
    """A port number to use inside the lab namespace (whose ports are all free)."""
    return 20000 + secrets.randbelow(20000)


@contextmanager
def sushy_emulator(lab: Lab, work: Path, uri: str, port: int = 8000) -> Iterator[str]:
    """sushy-tools' Redfish emulator over libvirt, on the namespace's loopback; its URL."""
    conf = work / "sushy.conf"
    conf.write_text(
        "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_LISTEN_PORT = {port}\n"
        f"SUSHY_EMULATOR_LIBVIRT_URI = '{uri}'\n"
        "SUSHY_EMULATOR_IGNORE_BOOT_DEVICE = False\n"
    )
    daemon = lab.start(
        "sushy", [VENV_BIN / "sushy-emulator", "--config", conf], env={"PYTHONWARNINGS": ""}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        lab.wait_http(f"{url}/redfish/v1/", timeout=60)
        yield url
    finally:
        daemon.stop()
        lab.daemons.remove(daemon)


@dataclass
class VirtualBmc:
    lab: Lab
    env: dict[str, str]
    uri: str
    names: list[str] = field(default_factory=list)

    def vbmc(self, *args: str) -> str:
        argv = self.lab.argv([VENV_BIN / "vbmc", *args])
        return run(argv, env={**os.environ, **self.env}, timeout=60).stdout

    def add(self, domain: str, port: int, user: str, password: str) -> None:
        self.vbmc("add", domain, "--port", str(port), "--address", "127.0.0.1", "--username",
                  user, "--password", password, "--libvirt-uri", self.uri)  # fmt: skip
        self.names.append(domain)
        self.vbmc("start", domain)


@contextmanager
def virtual_bmc(lab: Lab, work: Path, uri: str) -> Iterator[VirtualBmc]:
    """vbmcd (foreground) in the namespace; BMCs are added per domain with add()."""
    base = work / "vbmc"
    (base / "conf").mkdir(parents=True, exist_ok=True)
    conf = base / "virtualbmc.conf"
    conf.write_text(
        f"[default]\nconfig_dir = {base / 'conf'}\npid_file = {base / 'vbmcd.pid'}\n"
        f"server_port = {free_port()}\n[log]\nlogfile = {base / 'vbmcd.log'}\ndebug = true\n"
    )
    env = {"VIRTUALBMC_CONFIG": str(conf), "PYTHONWARNINGS": ""}
    daemon = lab.start("vbmcd", [VENV_BIN / "vbmcd", "--foreground"], env=env)
    bmc = VirtualBmc(lab, env, uri)
    try:
        deadline = time.monotonic() + 30
        while True:
            res = subprocess.run(
                lab.argv([VENV_BIN / "vbmc", "list"]), env={**os.environ, **env},
                capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if res.returncode == 0:
                break
            if daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"vbmcd did not come up:\n{daemon.text()}\n{res.stderr}")
            time.sleep(0.3)
        yield bmc
    finally:
        for name in bmc.names:
            subprocess.run(
                lab.argv([VENV_BIN / "vbmc", "stop", name]), env={**os.environ, **env},
                capture_output=True, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        daemon.stop()
        lab.daemons.remove(daemon)


def sniff_magic_argv(ifname: str, seconds: float) -> list[str]:
    """A Python one-shot that prints the MAC of every Wake-on-LAN magic packet (UDP or
    ethertype 0x0842) seen on `ifname` within `seconds` (run it inside a namespace)."""
    code = f"""
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
s.bind(({ifname!r}, 0)); s.settimeout(0.2)
print("SNIFFING", flush=True)
end = time.time() + {seconds}
while time.time() < end:
    try:
        frame = s.recv(65535)
    except socket.timeout:
        continue
    i = frame.find(b"\\xff" * 6, 14)  # after the Ethernet header (its destination is ff*6)
    while i >= 0:
        mac = frame[i + 6:i + 12]
        if len(frame) >= i + 102 and mac * 16 == frame[i + 6:i + 102]:
            print("MAGIC", frame[12:14].hex(), mac.hex(":"), flush=True)
            break
        i = frame.find(b"\\xff" * 6, i + 1)
"""
    return [sys.executable, "-c", code]


def curl_json(lab: Lab, method: str, url: str, token: str, body: str = "") -> tuple[int, str]:
    """An HTTP call from inside the namespace (the server listens there): (status, body)."""
    argv: Sequence[str] = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
                           "-H", f"Authorization: Bearer {token}", "--max-time", "180"]  # fmt: skip
    if body:
        argv = [*argv, "-H", "Content-Type: application/json", "--data-binary", body]
    out = lab.run([*argv, url], timeout=200)
    text, _, code = out.rpartition("\n")
    return int(code), text


def wait_text(path: Path, text: str, timeout: float) -> None:
    """Wait until a (console) file contains text; the file's tail on failure."""
    deadline = time.monotonic() + timeout
    while True:
        found = path.read_text(errors="replace") if path.exists() else ""
        if text in found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in {path} within {timeout} s:\n{found[-3000:]}")
        time.sleep(0.5)
