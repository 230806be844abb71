"""The live environment boots in QEMU (TCG), brings the network up with udhcpc, and its
installer installs a UEFI or a BIOS layout onto the guest's virtio disk from the real server
(reached only through a QEMU guestfwd relay to 127.0.0.1).  Then the installed disk boots
(OVMF or SeaBIOS): GRUB starts the kernel with root=UUID=<the new root>."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from provision.hosts import HostState
from provision.install.probe import parse_blkid_export, parse_sfdisk_json
from provision.live.build import LiveSpec, build_live
from provision.run import run
from provision.server.store import Store
from provision.signing import create_key, stop_agents
from provision.snapshots.layout import DataLayout
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import CACHE
from tests.integration.install_fixtures import (
    STEPS_NO_PORTAGE,
    add_host,
    make_test_stage,
    publish_stage,
    serve,
    write_profiles,
)

pytestmark = pytest.mark.vm
MAC = "52:54:00:71:00:01"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# QEMU's guestfwd runs this per guest connection: stdin/stdout <-> 127.0.0.1:PORT.
RELAY = """\
import socket, sys, threading
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def up():
    while data := sys.stdin.buffer.read1(65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := sock.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""
QEMU = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1536", "-nographic", "-no-reboot",
        "-nodefaults", "-serial", "stdio"]  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("live-kit")
    return build_live(LiveSpec(out_dir=out, cache=CACHE))


@contextmanager
def lines_until(argv: list[str], patterns: list[str], timeout: float) -> Iterator[list[str]]:
    """Run QEMU, collect serial lines until each pattern was seen in order (or it exits)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        todo = list(patterns)
        for raw in proc.stdout:
            seen.append(raw.decode(errors="replace").rstrip("\r\n"))
            if todo and todo[0] in seen[-1]:
                todo.pop(0)
                if not todo:
                    break
            if time.monotonic() > deadline:
                break
        yield seen
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.mark.parametrize("firmware", ["uefi", "bios"])
def test_live_installs_then_disk_boots(
    live: tuple[Path, Path], tmp_path: Path, firmware: str
) -> None:
    profile = f"loop-{firmware}"
    vmlinuz, initrd = live
    assert initrd.stat().st_size < 100 << 20, "keep the live initrd small"
    data, profiles = tmp_path / "data", tmp_path / "profiles"
    write_profiles(profiles, DEMO_REPO)
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as fh:
        fh.truncate(640 << 20)
    try:
        key = create_key(DataLayout(data).keys)
        stage = tmp_path / "stage.tar.gz"
        make_test_stage(stage)
        publish_stage(data, profile, stage, key.sign_home)
        with serve(data, profiles, base_url="http://10.0.2.100") as url:
            token = add_host(data, MAC, profile)
            port = url.rsplit(":", 1)[1]
            relay = tmp_path / "relay.py"
            relay.write_text(RELAY)
            cmdline = (
                "console=ttyS0 quiet panic=-1 provision.after=poweroff provision.server="
                f"http://10.0.2.100 provision.host={MAC} provision.token={token}"
                f" provision.steps={STEPS_NO_PORTAGE}"
            )
            argv = [
                *QEMU, "-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", cmdline,
                "-netdev",
                f"user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:{sys.executable}"
                f" {relay} {port}",
                "-device", f"virtio-net-pci,netdev=n0,mac={MAC}",
                "-drive", f"file={disk},if=virtio,format=raw",
            ]  # fmt: skip
            res = run(argv, timeout=600, check=False)
        out = [ln.strip() for ln in res.stdout.splitlines()]
        installer = [ln for ln in out if ln.startswith("provision-install:")]
        assert installer, res.stdout[-3000:]
        # how it booted first, then its hardware, then the config from the server
        assert installer[0].startswith("provision-install: boot ") and "firmware=" in installer[0]
        assert installer[1].startswith("provision-install: hardware: "), installer[:3]
        assert installer[2] == (
            f"provision-install: fetching http://10.0.2.100/api/v1/hosts/{MAC}/config"
        )
        assert "provision-live: network eth0" in out
        assert installer[-1].startswith("provision-install: finish"), res.stdout[-4000:]
        assert "provision-live: installer exited with status 0" in out
        store = Store.in_data_dir(data)
        try:
            assert store.host(MAC).state is HostState.INSTALLED
        finally:
            store.close()
    finally:
        stop_agents(DataLayout(data).keys)

    table = parse_sfdisk_json(run(["sfdisk", "--json", str(disk)]).stdout)
    if firmware == "uefi":
        assert [e.type for e in table.entries] == [
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        ]
        esp_offset = table.entries[0].start * 512
        listing = run(["mdir", "-b", "-i", f"{disk}@@{esp_offset}", "::/EFI/BOOT"]).stdout
        assert "BOOTX64.EFI" in listing.upper()
    else:
        assert table.entries[0].type == "21686148-6449-6E6F-744E-656564454649"
        assert b"GRUB" in disk.read_bytes()[:512]
    root_offset = table.entries[-1].start * 512
    probe = run(["blkid", "-p", "-o", "export", "-O", str(root_offset), str(disk)]).stdout
    root_uuid = parse_blkid_export(probe)["UUID"]

    # The installed disk boots: the firmware, then GRUB, loads the kernel with our root.
    argv = [*QEMU, "-drive", f"file={disk},if=virtio,format=raw"]
    if firmware == "uefi":
        vars_copy = tmp_path / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_VARS, vars_copy)
        argv += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
        ]  # fmt: skip
    with lines_until(argv, ["Command line:", f"root=UUID={root_uuid}"], 300) as seen:
        assert any(f"root=UUID={root_uuid} ro" in ln for ln in seen), "\n".join(seen[-40:])
