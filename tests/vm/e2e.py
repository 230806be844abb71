"""Shared harness of the end-to-end tests (tests/vm/test_e2e_*.py) and bench/bench_e2e.py.

One data dir per session, made by the real commands: the vm-amd64 profile built by the builder
on the `stage` root (signed binhost + repository snapshot), the live environment, the signed
install stage, the TFTP tree, a dnsmasq config.  One lab network namespace runs
`provision serve --tftp --dnsmasq` on 192.0.2.1.  Per machine only a blank disk and a MAC.

    with e2e_stack(work) as stack:
        run = Machine(stack, "pxe-bios", mac, firmware="bios", boot="pxe")
        run.install(timeout=...)          # power-on → installer's finish → the guest reboots
        run.boot_disk(timeout=...)        # the disk alone: PROVISION-INSTALLED lines

A failing wait raises AssertionError with the serial console tail; the serial logs are kept in
test-artifacts/vm/ (gitignored) when a test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provision.hosts import Event, Host
from provision.live.build import LiveSpec, build_live
from provision.pxe import dnsmasq
from provision.pxe.bootloaders import find_all
from provision.pxe.layout import plan_tree, write_tree
from provision.server.store import Store
from provision.signing import load_key, stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from tests.conftest import PROFILES
from tests.integration.build_fixtures import CACHE, make_stage_tarball, provision
from tests.integration.install_fixtures import publish_stage
from tests.vm.firmware import http_boot_first, ovmf
from tests.vm.netns import OVMF_CODE, OVMF_VARS, SERVER_IP, Daemon, Lab

PROFILE = "vm-amd64"
BASE_URL = f"http://{SERVER_IP}:8080"
SECRET = "e2e-test-secret-0123456789abcdef"
MARKER = "PROVISION-INSTALLED"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "vm"
DISK_SIZE = 4 << 30  # sparse; the profile wants >= 2G
MEMORY = 1536  # the live environment runs from RAM
BUILD_TOML = """root = "stage"
stage = "{stage}"

[distfiles."sys-kernel/demo-kernel-bin"]
"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"
"demo-kernel-bin-6.1.0.initrd" = "/boot/initrd.img-*"
"""


@dataclass(frozen=True)
class Timings:
    """Seconds spent making the session's data dir (printed by the benchmark)."""

    build: float
    live: float
    stage: float


def prepare_data(
    data: Path,
    profiles: tuple[str, ...] = (PROFILE,),
    server_toml: str = "",
    http_boot: str = "ipxe",
) -> Timings:
    """The demo data dir for vm-amd64 (and other profiles), made by the real commands (stage
    root builds); `server_toml`: more lines for server.toml; the lab's DHCP answers UEFI HTTP
    boot clients with `http_boot`."""
    data.mkdir(parents=True)
    stage = make_stage_tarball()
    (data / "build.toml").write_text(BUILD_TOML.format(stage=stage))
    (data / "server.toml").write_text(
        f'secret_key = "{SECRET}"\nbase_url = "{BASE_URL}"\n{server_toml}'
    )
    t0 = time.monotonic()
    provision(data, "build", *profiles)
    for profile in profiles:
        assert current_snapshot(data, profile) is not None, f"the {profile} build published nothing"
    t1 = time.monotonic()
    build_live(LiveSpec(out_dir=data / "live", cache=CACHE))
    t2 = time.monotonic()
    key = load_key(DataLayout(data).keys)
    named = data.parent / "stage.tar.zst"  # the server serves stage.tar.{xz,zst,gz}
    named.symlink_to(stage)
    for profile in profiles:
        publish_stage(data, profile, named, key.sign_home)
    t3 = time.monotonic()
    (data / "tftp").mkdir()
    write_tree(data / "tftp", plan_tree(find_all(), BASE_URL))
    cfg = dnsmasq.DhcpConfig(
        dnsmasq.Mode.FULL, "br0", SERVER_IP, BASE_URL, f"{SERVER_IP}/24",
        range_start="192.0.2.50", range_end="192.0.2.100",
        http_boot=dnsmasq.HttpBoot(http_boot),
    )  # fmt: skip
    conf = dnsmasq.write_config(data, cfg)
    # A lab network like a real one hands out a nameserver (the installer reads resolv.conf
    # even when provision.server= is given).
    with open(conf, "a") as fh:
        fh.write(f"dhcp-option=option:dns-server,{SERVER_IP}\n")
    return Timings(build=t1 - t0, live=t2 - t1, stage=t3 - t2)


@dataclass
class Stack:
    """The session's server: data dir + lab namespace running `provision serve`."""

    data: Path
    lab: Lab
    server: Daemon
    timings: Timings

    def register(self, mac: str, hostname: str, profile: str = PROFILE) -> str:
        """The host, assigned the profile by MAC (as the admin does in the store)."""
        store = Store.in_data_dir(self.data)
        try:
            return store.upsert_host(mac, profile=profile, hostname=hostname).token
        finally:
            store.close()

    def host(self, mac: str) -> tuple[Host, list[Event]]:
        store = Store.in_data_dir(self.data)
        try:
            return store.host(mac), store.events(mac)
        finally:
            store.close()


@contextmanager
def e2e_stack(
    work: Path,
    profiles: Path = PROFILES,
    server_toml: str = "",
    *,
    build: tuple[str, ...] = (PROFILE,),
    tftp: bool = True,
) -> Iterator[Stack]:
    """The stack; `profiles`: the server's profiles directory (the `build` profiles, vm-amd64 by
    default, are built from the bundled one either way; a copy can add rules.toml);
    `server_toml`: more settings; tftp=False: no TFTP server on the lab network at all."""
    data = work / "data"
    timings = prepare_data(data, build, server_toml)
    try:
        with Lab.create(work, prefix="e2e") as lab:
            argv: list[str | os.PathLike[str]] = [
                sys.executable, "-m", "provision", "--data-dir", data, "--profiles-dir", profiles,
                "serve", "--listen", f"{SERVER_IP}:8080", "--base-url", BASE_URL,
                *(["--tftp", f"{SERVER_IP}:69"] if tftp else []), "--dnsmasq", "--no-build",
            ]  # fmt: skip
            server = lab.start("server", argv, env={"PROVISION_SECRET_KEY": SECRET})
            lab.wait_http(f"{BASE_URL}/healthz", timeout=60)
            server.wait_for("dnsmasq running", timeout=30)
            yield Stack(data, lab, server, timings)
    finally:
        stop_agents(DataLayout(data).keys)


def qemu_base(name: str) -> list[str]:
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-m", str(MEMORY), "-nographic", "-no-reboot",
        "-nodefaults", "-serial", "stdio", "-monitor", "none", "-name", name,
    ]  # fmt: skip


def firmware_args(firmware: str, vars_file: Path, vars_template: Path | None = None) -> list[str]:
    """bios (SeaBIOS), uefi (OVMF), uefi-sb (OVMF, Secure Boot enforced: vars_template, by
    default Microsoft's keys; see tests/vm/firmware.py)."""
    if firmware == "bios":
        return []
    if firmware == "uefi-sb":
        return ovmf(vars_file, secure_boot=True, template=vars_template)
    if firmware != "uefi":
        raise ValueError(f"firmware {firmware!r}: bios, uefi or uefi-sb")
    if not vars_file.exists():
        shutil.copyfile(OVMF_VARS, vars_file)
    return [
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,unit=1,file={vars_file}",
    ]  # fmt: skip


def disk_args(disk: Path, bootindex: int) -> list[str]:
    return [
        "-drive", f"file={disk},format=raw,if=none,id=d0",
        "-device", f"virtio-blk-pci,drive=d0,bootindex={bootindex}",
    ]  # fmt: skip


@dataclass
class Machine:
    """One empty machine: a blank disk, a MAC, a firmware, a boot path (pxe, iso or usb)."""

    stack: Stack
    name: str
    mac: str
    firmware: str  # bios, uefi, uefi-sb (Secure Boot enforced)
    # "pxe": the NIC first; "http": UEFI HTTP boot (OVMF's own stack, its PXE off);
    # "iso": a CD-ROM; "usb": the ISO as a USB disk
    boot: str
    iso: Path | None = None
    vars_template: Path | None = None  # uefi-sb: the variable store (enrolled keys)
    logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work = self.stack.lab.work / self.name
        self.work.mkdir()
        self.disk = self.work / "disk.img"
        with open(self.disk, "wb") as fh:
            fh.truncate(DISK_SIZE)
        self.vars = self.work / "OVMF_VARS.fd"

    def install(self, timeout: float) -> tuple[Daemon, float]:
        """Power on until the installer finished and the guest rebooted (QEMU exits)."""
        tap = self.stack.lab.add_tap()
        nic = f"virtio-net-pci,netdev=n0,mac={self.mac}"
        argv = [*qemu_base(self.name), *self._firmware()]
        argv += ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"]
        if self.boot == "http":
            argv += ["-device", f"{nic},bootindex=1,romfile=", *http_boot_first()]
            argv += disk_args(self.disk, 2)
        elif self.boot == "pxe":
            # BIOS: the NIC's iPXE ROM; UEFI: OVMF's own PXE client → TFTP ipxe.efi
            rom = "" if self.firmware == "bios" else ",romfile="
            argv += ["-device", f"{nic},bootindex=1{rom}", *disk_args(self.disk, 2)]
        else:
            assert self.iso is not None
            argv += ["-device", f"{nic},romfile=", *disk_args(self.disk, 2)]
            if self.boot == "iso":
                argv += [
                    "-drive", f"file={self.iso},format=raw,if=none,id=cd,media=cdrom,readonly=on",
                    "-device", "ide-cd,drive=cd,bootindex=0",
                ]  # fmt: skip
            else:
                argv += [
                    "-drive", f"file={self.iso},format=raw,if=none,id=usb,readonly=on",
                    "-device", "usb-ehci", "-device", "usb-storage,drive=usb,bootindex=0",
                ]  # fmt: skip
        start = time.monotonic()
        vm = self._start("install", argv)
        wait_for(vm, r"provision-install: finish", timeout)
        wait_exit(vm, 120)
        return vm, time.monotonic() - start

    def boot_disk(self, timeout: float) -> tuple[str, float]:
        """Restart from the disk alone (no NIC, no ISO): the installed system's marker lines."""
        argv = [*qemu_base(self.name), *self._firmware()]
        argv += disk_args(self.disk, 0)
        start = time.monotonic()
        vm = self._start("disk", argv)
        wait_for(vm, f"{MARKER} done", timeout)
        wait_exit(vm, 60)
        return vm.text(), time.monotonic() - start

    def boot_disk_elsewhere(
        self, vars_template: Path, pattern: str, timeout: float
    ) -> tuple[str, float]:
        """The disk alone on another machine (other firmware variables): wait for pattern (e.g.
        shim's refusal, after which it waits for a key), then power it off."""
        other = self.work / f"elsewhere-{vars_template.name}"
        argv = [*qemu_base(self.name), *firmware_args(self.firmware, other, vars_template)]
        argv += disk_args(self.disk, 0)
        start = time.monotonic()
        vm = self._start(f"elsewhere-{vars_template.stem}", argv)
        try:
            wait_for(vm, pattern, timeout)
            return vm.text(), time.monotonic() - start
        finally:
            vm.stop()

    def _firmware(self) -> list[str]:
        return firmware_args(self.firmware, self.vars, self.vars_template)

    def _start(self, phase: str, argv: list[str]) -> Daemon:
        log = self.work / f"{phase}-serial.log"
        self.logs.append(log)
        daemon = Daemon(f"{self.name}-{phase}", self.stack.lab.argv(argv), log, dict(os.environ))
        self.stack.lab.daemons.append(daemon)
        return daemon

    def keep_logs(self) -> list[Path]:
        """Copy the serial logs (and the server's) to test-artifacts/vm/<name>/."""
        dest = ARTIFACTS / self.name
        dest.mkdir(parents=True, exist_ok=True)
        kept = []
        for log in [*self.logs, self.stack.server.log, self.stack.data / "dnsmasq.log"]:
            if log.is_file():
                shutil.copyfile(log, dest / log.name)
                kept.append(dest / log.name)
        return kept


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_for(vm: Daemon, pattern: str, timeout: float) -> re.Match[str]:
    """Wait for pattern on the serial console; on failure the console's tail."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while True:
        found = regex.search(vm.text())
        if found:
            return found
        if vm.proc.poll() is not None:
            raise AssertionError(
                f"{vm.name}: QEMU exited ({vm.proc.returncode}) before {pattern!r}; serial "
                f"log {vm.log}:\n{tail(vm.text())}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{vm.name}: no {pattern!r} within {timeout:.0f} s; serial log {vm.log}:\n"
                f"{tail(vm.text())}"
            )
        time.sleep(0.5)


def wait_exit(vm: Daemon, timeout: float) -> None:
    """The guest powers off / reboots (QEMU runs with -no-reboot) within timeout."""
    try:
        vm.proc.wait(timeout)
    except Exception as exc:
        raise AssertionError(
            f"{vm.name}: still running {timeout:.0f} s after the end; serial log {vm.log}:\n"
            f"{tail(vm.text())}"
        ) from exc


def marker_lines(console: str) -> list[str]:
    return [ln.strip() for ln in console.splitlines() if ln.strip().startswith(MARKER)]
