"""The demo machine: an empty QEMU guest (TCG) that installs itself from the demo's server.

QEMU user networking, restricted: the guest reaches nothing but the server, through one forward
(`guestfwd` to GUEST_SERVER:PORT, relayed to the server on the host's loopback by
provision.demo.relay) — no root, no bridge, no traffic anywhere else.  QEMU's own DHCP gives the
guest an address; for a network boot it also hands the NIC's iPXE the server's boot script URL.

    power on → iPXE (or the ISO) → live environment → `provision install` → reboot
    → a second QEMU with the disk alone → the installed system prints PROVISION-INSTALLED lines

The argv builders are pure; `Console` follows a running QEMU's serial log.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import provision
from provision.demo.settings import GUEST_SERVER
from provision.errors import ProvisionError
from provision.run import Spawned, spawn, tail_of

DEMO_MAC = "52:54:00:de:00:01"
DEMO_HOSTNAME = "demo-vm"
MARKER = "PROVISION-INSTALLED"
INSTALL_DONE = r"provision-install: finish"
DISK_SIZE = 4 << 30  # sparse; vm-amd64 wants >= 2G
MEMORY = 1536  # the live environment runs from RAM
OVMF_CODE = (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/edk2-ovmf/OVMF_CODE.fd"))
OVMF_VARS = (Path("/usr/share/OVMF/OVMF_VARS_4M.fd"), Path("/usr/share/edk2-ovmf/OVMF_VARS.fd"))
# what the console shows the user as it goes (the whole console is in the log file)
ECHO = re.compile(r"provision-(live|install)|iPXE \d|https?://|Booting")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class Medium(StrEnum):
    PXE = "pxe"  # the NIC's iPXE boots the server's boot script (the host is known by its MAC)
    ISO = "iso"  # a per-host ISO (provision iso --host) as a CD-ROM


class Firmware(StrEnum):
    BIOS = "bios"  # SeaBIOS
    UEFI = "uefi"  # OVMF


@dataclass(frozen=True)
class MachineSpec:
    medium: Medium
    firmware: Firmware
    port: int  # the server's port, on the host's loopback and on the guest's network
    work: Path  # disk.img, OVMF_VARS.fd, serial logs
    iso: Path | None = None
    mac: str = DEMO_MAC
    memory: int = MEMORY
    python: str = sys.executable  # runs the relay

    def __post_init__(self) -> None:
        if self.medium is Medium.ISO and self.iso is None:
            raise ValueError("an ISO boot needs the ISO")

    @property
    def server_url(self) -> str:
        """The server as the guest sees it."""
        return f"http://{GUEST_SERVER}:{self.port}"

    @property
    def disk(self) -> Path:
        return self.work / "disk.img"

    @property
    def vars(self) -> Path:
        return self.work / "OVMF_VARS.fd"


def first_file(candidates: tuple[Path, ...]) -> Path:
    for path in candidates:
        if path.is_file():
            return path
    raise ProvisionError(
        f"UEFI firmware not found ({', '.join(map(str, candidates))}): "
        "install ovmf (Debian) or sys-firmware/edk2-ovmf-bin (Gentoo)"
    )


def netdev(spec: MachineSpec) -> str:
    """Pure: the restricted user-mode network with its one forward to the server."""
    relay = f"cmd:{spec.python} -m provision.demo.relay 127.0.0.1 {spec.port}"
    opts = ["user", "id=n0", "restrict=on", f"guestfwd=tcp:{GUEST_SERVER}:{spec.port}-{relay}"]
    if spec.medium is Medium.PXE:
        opts.append(f"bootfile={spec.server_url}/boot/boot.ipxe")
    if any("," in o for o in opts[1:]):
        raise ProvisionError(f"a path with a comma cannot go on QEMU's command line: {relay}")
    return ",".join(opts)


def _base(name: str, spec: MachineSpec, code: Path | None) -> list[str]:
    argv = [
        "qemu-system-x86_64", "-accel", "tcg", "-m", str(spec.memory), "-nographic",
        "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-name", name,
    ]  # fmt: skip
    if spec.firmware is Firmware.UEFI:
        assert code is not None
        argv += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={spec.vars}",
        ]  # fmt: skip
    return argv


def _disk(spec: MachineSpec, bootindex: int) -> list[str]:
    return [
        "-drive", f"file={spec.disk},format=raw,if=none,id=d0",
        "-device", f"virtio-blk-pci,drive=d0,bootindex={bootindex}",
    ]  # fmt: skip


def install_argv(spec: MachineSpec, code: Path | None = None) -> list[str]:
    """Pure: power-on with the blank disk, the NIC (and the ISO): boots the installer."""
    argv = [*_base("provision-demo-install", spec, code), "-netdev", netdev(spec)]
    nic = f"virtio-net-pci,netdev=n0,mac={spec.mac}"
    if spec.medium is Medium.PXE:
        return [*argv, "-device", f"{nic},bootindex=1", *_disk(spec, 2)]
    return [
        *argv, "-device", f"{nic},romfile=", *_disk(spec, 2),
        "-drive", f"file={spec.iso},format=raw,if=none,id=cd,media=cdrom,readonly=on",
        "-device", "ide-cd,drive=cd,bootindex=0",
    ]  # fmt: skip


def disk_argv(spec: MachineSpec, code: Path | None = None) -> list[str]:
    """Pure: the disk alone (no NIC, no ISO): the installed system."""
    return [*_base("provision-demo-disk", spec, code), *_disk(spec, 0)]


def relay_env() -> dict[str, str]:
    """QEMU's environment: the relay must import this very provision package."""
    env = dict(os.environ)
    here = str(Path(provision.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


def clean(text: str) -> str:
    return _ANSI.sub("", text)


class Console:
    """A running QEMU, its serial console in a log file; shown line by line as it comes."""

    def __init__(self, argv: list[str], log: Path, echo: Callable[[str], None]) -> None:
        log.unlink(missing_ok=True)
        self.log = log
        self.echo = echo
        self.shown = 0
        self.proc: Spawned = spawn(argv, log_path=log, env=relay_env())

    def text(self) -> str:
        return clean(self.log.read_text(errors="replace")) if self.log.is_file() else ""

    def _show(self, text: str) -> None:
        lines = text.split("\n")
        complete = lines[:-1]
        for line in complete[self.shown :]:
            if ECHO.search(line):
                self.echo(f"  | {line.strip()[:160]}")
        self.shown = max(self.shown, len(complete))

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The console text once pattern appeared; ProvisionError on timeout or exit first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            self._show(text)
            if regex.search(text):
                return text
            if not self.proc.running:
                raise ProvisionError(
                    f"the demo machine stopped before {pattern!r} (log {self.log}):\n"
                    + tail_of(self.log, 3000)
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ProvisionError(
                    f"no {pattern!r} on the demo machine's console within {timeout:.0f} s "
                    f"(log {self.log}):\n" + tail_of(self.log, 3000)
                )
            time.sleep(0.5)

    def wait_exit(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.proc.running:
            self._show(self.text())
            if time.monotonic() > deadline:
                self.stop()
                raise ProvisionError(f"the demo machine did not power off within {timeout:.0f} s")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.stop()


@dataclass(frozen=True)
class Installed:
    markers: list[str]
    seconds: float  # power-on to the installed system's last marker line


def marker_lines(console: str) -> list[str]:
    return [ln.strip() for ln in console.splitlines() if ln.strip().startswith(MARKER)]


def install_and_boot(
    spec: MachineSpec,
    echo: Callable[[str], None],
    *,
    install_timeout: float = 1500,
    boot_timeout: float = 300,
) -> Installed:
    """Blank disk → installed (the guest reboots; QEMU exits) → boot the disk alone."""
    spec.work.mkdir(parents=True, exist_ok=True)
    spec.disk.unlink(missing_ok=True)
    with open(spec.disk, "wb") as fh:
        fh.truncate(DISK_SIZE)
    code = None
    if spec.firmware is Firmware.UEFI:
        code = first_file(OVMF_CODE)
        spec.vars.write_bytes(first_file(OVMF_VARS).read_bytes())
    start = time.monotonic()
    echo(f"provision demo: power on ({spec.medium} boot, {spec.firmware}, TCG; console log "
         f"{spec.work / 'install-serial.log'})")  # fmt: skip
    install = Console(install_argv(spec, code), spec.work / "install-serial.log", echo)
    try:
        install.wait_for(INSTALL_DONE, install_timeout)
        install.wait_exit(180)
    finally:
        install.stop()
    echo(f"provision demo: installed in {time.monotonic() - start:.0f} s; booting the disk alone")
    disk = Console(disk_argv(spec, code), spec.work / "disk-serial.log", echo)
    try:
        text = disk.wait_for(f"{MARKER} done", boot_timeout)
        seconds = time.monotonic() - start
        disk.wait_exit(60)
    finally:
        disk.stop()
    return Installed(marker_lines(text), seconds)
