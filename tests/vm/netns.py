"""A throw-away lab network for VM tests: network namespace + bridge + taps, daemons, QEMU.

    with Lab.create(prefix="pxe") as lab:          # netns pxe-XXXXXX, br0 = 192.0.2.1/24
        tap = lab.add_tap()                          # a tap on br0 for one VM
        office = lab.add_peer("10")                  # another netns on the same bridge
        dhcp = lab.start("dnsmasq", ["dnsmasq", ...], ready="started, version")
        vm = Qemu.start(lab, tap, firmware="uefi", mac="52:54:00:..", work=tmp_path)
        vm.wait_for("PROVISION-LIVE-MARKER done", timeout=240)

Everything runs inside namespaces the test made: 192.0.2.0/24 (TEST-NET-1) never touches the
host's network.  Only processes started here are stopped, by their own pid.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provision.run import run

SUBNET = "192.0.2"
SERVER_IP = f"{SUBNET}.1"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def ip(*args: str) -> None:
    run(["ip", *args], timeout=30)


class Daemon:
    """A long-running process in the lab, output to a log file; stopped by its pid."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            list(argv), stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.text())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} in {timeout} s:\n{self.text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._fh.close()


@dataclass
class Lab:
    """One network namespace with bridge br0 at 192.0.2.1/24; taps and peers hang off it."""

    name: str
    work: Path
    peers: list[str] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)
    _taps: int = 0

    @classmethod
    @contextmanager
    def create(cls, work: Path, prefix: str = "lab") -> Iterator[Lab]:
        lab = cls(f"{prefix}-{secrets.token_hex(3)}", work)
        ip("netns", "add", lab.name)
        try:
            lab.run(["ip", "link", "set", "lo", "up"])
            lab.run(["ip", "link", "add", "br0", "type", "bridge"])
            lab.run(["ip", "addr", "add", f"{SERVER_IP}/24", "dev", "br0"])
            lab.run(["ip", "link", "set", "br0", "up"])
            yield lab
        finally:
            lab.close()

    def argv(self, argv: Sequence[str | os.PathLike[str]], netns: str = "") -> list[str]:
        return ["ip", "netns", "exec", netns or self.name, *(os.fspath(a) for a in argv)]

    def run(self, argv: Sequence[str | os.PathLike[str]], timeout: float = 60) -> str:
        return run(self.argv(argv), timeout=timeout).stdout

    def add_tap(self) -> str:
        """A new tap device on br0 (for one QEMU NIC); returns its name."""
        tap = f"tap{self._taps}"
        self._taps += 1
        self.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"])
        self.run(["ip", "link", "set", tap, "master", "br0"])
        self.run(["ip", "link", "set", tap, "up"])
        return tap

    def add_peer(self, host: str) -> str:
        """Another namespace on the same bridge (veth), with address 192.0.2.HOST/24.

        For a second server on the segment, e.g. the "office" DHCP server beside a proxyDHCP.
        """
        peer = f"{self.name}-p{host}"
        ip("netns", "add", peer)
        self.peers.append(peer)
        self.run(["ip", "link", "add", f"veth{host}", "type", "veth", "peer", "name", "eth0",
                  "netns", peer])  # fmt: skip
        self.run(["ip", "link", "set", f"veth{host}", "master", "br0"])
        self.run(["ip", "link", "set", f"veth{host}", "up"])
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", f"{SUBNET}.{host}/24", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
        ):
            run(self.argv(argv, peer), timeout=30)
        return peer

    def start(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        netns: str = "",
        env: dict[str, str] | None = None,
        ready: str = "",
        timeout: float = 30,
    ) -> Daemon:
        """Start argv inside the namespace; with `ready`, wait for that regex in its log."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        daemon = Daemon(name, self.argv(argv, netns), self.work / f"{name}.log", full_env)
        self.daemons.append(daemon)
        if ready:
            daemon.wait_for(ready, timeout)
        return daemon

    def wait_http(self, url: str, timeout: float = 30) -> None:
        """Poll url from inside the namespace until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            res = subprocess.run(
                self.argv(["curl", "-sf", "-o", "/dev/null", "--max-time", "2", url]),
                stdin=subprocess.DEVNULL, capture_output=True, check=False,
            )  # fmt: skip
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer in {timeout} s")
            time.sleep(0.2)

    def close(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()
        for netns in [*self.peers, self.name]:
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
        self.peers.clear()


class Qemu:
    """A QEMU (TCG) guest on a lab tap, serial console captured; killed on stop()."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    @classmethod
    def start(
        cls,
        lab: Lab,
        tap: str,
        *,
        mac: str,
        firmware: str = "bios",
        disk: Path | None = None,
        memory: int = 512,
        name: str = "qemu",
        nic_rom: bool = True,
    ) -> Qemu:
        """Boot from the network (firmware "bios": SeaBIOS; "uefi": OVMF).

        QEMU's NIC option ROM is iPXE itself.  nic_rom=False leaves it out, so that OVMF's own
        PXE client (VirtioNetDxe + PxeBcDxe) boots like a stock UEFI machine: DHCP with client
        architecture 7, then our bootloader over TFTP.  (SeaBIOS has no PXE without the ROM.)
        """
        argv: list[str | os.PathLike[str]] = [
            "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-nographic",
            "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none",
            "-vga", "std",
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1"
            + ("" if nic_rom else ",romfile="),
        ]  # fmt: skip
        if firmware == "uefi":
            vars_copy = lab.work / f"{name}-OVMF_VARS.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            argv += [
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
            ]  # fmt: skip
        elif firmware != "bios":
            raise ValueError(f"firmware {firmware!r}: bios or uefi")
        if disk is not None:
            argv += [
                "-drive", f"file={disk},format=raw,if=none,id=d0",
                "-device", "virtio-blk-pci,drive=d0,bootindex=2",
            ]  # fmt: skip
        return cls(lab.start(name, argv))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        return self.daemon.wait_for(pattern, timeout)

    def wait_exit(self, timeout: float) -> int:
        return self.daemon.proc.wait(timeout)

    def text(self) -> str:
        return self.daemon.text()

    def stop(self) -> None:
        self.daemon.stop()
