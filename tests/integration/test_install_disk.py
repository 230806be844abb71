"""The installer on loop devices: real sfdisk, mkfs, mount, grub-install (BIOS and UEFI), a
signed stage served by the real server, events recorded, resume after a kill, and bad input
refused before anything is wiped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.hosts import EventKind, HostState
from provision.install.probe import blkid, parse_sfdisk_json
from provision.install.state import STATE_PATH
from provision.live.initramfs import find_kernel
from provision.run import run
from provision.signing import create_key, gpg_argv, stop_agents
from provision.snapshots.layout import DataLayout
from tests.conftest import DEMO_REPO
from tests.integration.install_fixtures import (
    KEY,
    MAC_BIOS,
    PAUSE,
    STEPS_NO_PORTAGE,
    Server,
    add_host,
    cli_argv,
    install_cli,
    lines_of,
    loop_disk,
    make_test_stage,
    mounted,
    publish_stage,
    serve,
    untouched,
    write_profiles,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("inst-srv")
    data, profiles = base / "data", base / "profiles"
    write_profiles(profiles, DEMO_REPO)
    try:
        key = create_key(DataLayout(data).keys)
        stage = base / "stage.tar.gz"
        make_test_stage(stage)
        for name in ("loop-bios", "loop-uefi", "loop-big"):
            publish_stage(data, name, stage, key.sign_home)
        with serve(data, profiles) as url:
            yield Server(url, data, profiles, key)
    finally:
        stop_agents(DataLayout(data).keys)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Path]:
    t = tmp_path / "target"
    t.mkdir()
    yield t
    run(["umount", "--recursive", "--lazy", str(t)], check=False)


# --- tests --------------------------------------------------------------------------------------


def test_bios_install_then_resume_after_kill(server: Server, tmp_path: Path, target: Path) -> None:
    token = add_host(server.data_dir, MAC_BIOS, "loop-bios")
    image = tmp_path / "bios.img"
    with loop_disk(image, 768 << 20) as dev:
        # 1: killed (power loss) while the bootloader is being installed.
        argv = cli_argv(
            server, "--server", server.url, "--host", MAC_BIOS, f"--token={token}",
            "--disk", dev, "--target", str(target), "--steps", STEPS_NO_PORTAGE,
        )  # fmt: skip
        PAUSE.step = "bootloader"
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        assert proc.stdout is not None
        # how it booted comes first (the boot event), then the hardware report
        # (provision.install.discover), then the config
        booted = proc.stdout.readline().decode()
        assert booted.startswith("provision-install: boot ") and "firmware=" in booted, booted
        hardware = proc.stdout.readline().decode()
        assert hardware.startswith("provision-install: hardware: "), hardware
        fetching = proc.stdout.readline().decode()
        assert fetching.startswith("provision-install: fetching ") and MAC_BIOS in fetching
        try:
            assert PAUSE.reached.wait(300), "the installer never reached the bootloader step"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            PAUSE.step = ""
            PAUSE.release.set()
        seen = proc.stdout.read().decode()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, seen
        assert "[stage] 43% started" in seen and "finish" not in seen
        table_before = run(["sfdisk", "--json", dev]).stdout
        run(["umount", "--recursive", str(target)])  # the power is gone: so are the mounts

        # 2: the rerun continues where it stopped.
        res = install_cli(server, MAC_BIOS, token, dev, target, "--steps", STEPS_NO_PORTAGE)
        assert res.returncode == 0, res.stdout + res.stderr
        out = lines_of(res)
        resumed = [ln.split("[")[1].split("]")[0] for ln in out if "already done" in ln]
        assert resumed == ["partition", "filesystems", "stage", "kernel"], out
        assert any("[bootloader]" in ln and ln.endswith("started") for ln in out), out
        assert out[-1].startswith("provision-install: finish")
        assert run(["sfdisk", "--json", dev]).stdout == table_before

        table = parse_sfdisk_json(table_before)
        assert table.label == "gpt"
        assert [e.type for e in table.entries] == [
            "21686148-6449-6E6F-744E-656564454649",
            "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        ]
        assert all(e.start % 2048 == 0 for e in table.entries)
        with open(dev, "rb") as fh:
            mbr = fh.read(512)
            fh.seek(1 << 20)
            core = fh.read(512)
        assert b"GRUB" in mbr and mbr[510:] == b"\x55\xaa", "GRUB boot.img in the boot sector"
        assert core.strip(b"\0"), "core.img in the BIOS boot partition"
        root_uuid = blkid(f"{dev}p3")["UUID"]
        swap_uuid = blkid(f"{dev}p2")["UUID"]
        assert blkid(f"{dev}p2")["TYPE"] == "swap"
        with mounted(f"{dev}p3", tmp_path / "check") as root:
            fstab = (root / "etc/fstab").read_text()
            assert (
                f"UUID={root_uuid}\t/\text4" in fstab and f"UUID={swap_uuid}\tnone\tswap" in fstab
            )
            grub_cfg = (root / "boot/grub/grub.cfg").read_text()
            kernel = find_kernel().name
            assert f"linux /boot/{kernel} root=UUID={root_uuid} ro" in grub_cfg
            assert (root / "boot/grub/i386-pc/normal.mod").is_file()
            assert (root / "etc/hostname").read_text() == "h01\n"
            assert (root / "root/.ssh/authorized_keys").read_text() == KEY + "\n"
            assert (root / "root/.ssh/authorized_keys").stat().st_mode & 0o777 == 0o600
            assert (root / "etc/shadow").read_text().startswith("root:$6$salt$provisiontesthash:")
            assert (root / "etc/conf.d/net").read_text() == 'config_eth0="dhcp"\n'
            assert (root / "etc/os-release").read_text() == "NAME=provision-test-stage\n"
            state = (root / STATE_PATH).read_text()
            assert '"finished": 0' not in state and '"bootloader"' in state
            assert "grub-install" in (root / "var/log/provision-install.log").read_text()
            assert not (root / "var/tmp/provision-stage").exists()

    store = server.store()
    try:
        host = store.host(MAC_BIOS)
        events = store.events(MAC_BIOS)
    finally:
        store.close()
    assert host.state is HostState.INSTALLED and host.boot_local
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.START) == 2 and kinds[-1] == "finish"
    assert {e.step for e in events if e.kind == "progress"} >= {"partition", "stage", "system"}


def test_dry_run_touches_nothing(server: Server, tmp_path: Path, target: Path) -> None:
    token = add_host(server.data_dir, "52:54:00:70:00:03", "loop-uefi")
    image = tmp_path / "dry.img"
    with loop_disk(image, 640 << 20, marker=True) as dev:
        res = install_cli(server, "52:54:00:70:00:03", token, dev, target, "--dry-run", "--wipe")
        assert res.returncode == 0, res.stderr
        assert f"sfdisk --quiet --wipe always --wipe-partitions always {dev} <<EOF" in res.stdout
        assert "mkfs.vfat -F 32 -n EFI -i " in res.stdout
        assert f"grub-install --target=x86_64-efi --efi-directory={target}/boot/efi" in res.stdout
        assert "chroot " in res.stdout and "--getbinpkgonly" in res.stdout
        assert untouched(image) and not any(target.iterdir())


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL nobody answers: a bound socket that never listens refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


CASES = ["too-small", "partitioned", "bad-signature", "unreachable", "unknown-host"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param("too-small", "too small", id="disk-too-small"),
        pytest.param("partitioned", "already holds partitions", id="partitioned-no-wipe"),
        pytest.param("bad-signature", "bad signature", id="bad-signature"),
        pytest.param("unreachable", "server unreachable", id="server-unreachable"),
        pytest.param("unknown-host", "401", id="bad-token"),
    ],
)
def test_bad_input_refused_before_wiping(
    server: Server, tmp_path: Path, target: Path, refused_url: str, case: str, message: str
) -> None:
    mac = f"52:54:00:70:01:{CASES.index(case):02x}"
    profile = "loop-big" if case == "too-small" else "loop-bios"
    token = add_host(server.data_dir, mac, profile)
    image = tmp_path / "disk.img"
    url = server.url
    if case == "unreachable":
        url = refused_url
    if case == "unknown-host":
        token = "not-the-token"
    if case == "bad-signature":  # the checksum signed by another key
        profile_dir = server.data_dir / "install" / "loop-badsig"
        shutil.copytree(server.data_dir / "install" / "loop-bios", profile_dir)
        sums = profile_dir / "stage.tar.gz.sha512"
        (profile_dir / "stage.tar.gz.sha512.asc").unlink()
        try:
            other = create_key(tmp_path / "other-keys")
            sig_argv = ["--armor", "--detach-sign", "--output", f"{sums}.asc", str(sums)]
            run(gpg_argv(other.sign_home, *sig_argv))
        finally:
            stop_agents(tmp_path / "other-keys")
        shutil.copyfile(server.profiles / "loop-bios.toml", server.profiles / "loop-badsig.toml")
        token = add_host(server.data_dir, mac, "loop-badsig")
    with loop_disk(image, 256 << 20, marker=True) as dev:
        if case == "partitioned":
            run(["sfdisk", "--quiet", dev], input="label: gpt\nstart=4096, size=2048\n")
            run(["partx", "-u", dev])
        argv = cli_argv(
            server, "--server", url, "--host", mac, f"--token={token}",
            "--disk", dev, "--target", str(target),
        )  # fmt: skip
        started = time.monotonic()
        res = run(argv, check=False, timeout=120)
        assert res.returncode == 2, res.stdout + res.stderr
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("provision: error:") and message in err[0], err
        assert time.monotonic() - started < 60
        if case == "partitioned":
            table = parse_sfdisk_json(run(["sfdisk", "--json", dev]).stdout)
            assert [(e.start, e.size) for e in table.entries] == [(4096, 2048)]
        else:
            assert untouched(image)
        assert not any(target.iterdir())


def test_tampered_stage_is_not_unpacked(server: Server, tmp_path: Path, target: Path) -> None:
    """The signed checksum is good but the stage changed after signing: detected when the
    stream is checked, before tar runs."""
    mac = "52:54:00:70:00:04"
    files = server.data_dir / "install"
    shutil.copytree(files / "loop-bios", files / "loop-tampered")
    shutil.copyfile(server.profiles / "loop-bios.toml", server.profiles / "loop-tampered.toml")
    with open(files / "loop-tampered" / "stage.tar.gz", "ab") as fh:
        fh.write(b"\0evil")
    token = add_host(server.data_dir, mac, "loop-tampered")
    with loop_disk(tmp_path / "t.img", 256 << 20) as dev:
        steps = "partition,filesystems,mount,stage"
        res = install_cli(server, mac, token, dev, target, "--steps", steps)
        assert res.returncode == 2
        assert "SHA-512 mismatch" in res.stderr and "refusing to unpack" in res.stderr
        assert not (target / "etc").exists() and not (target / "var/tmp/provision-stage").exists()
        # The admin fixes the stage and reruns in the same session (the target still mounted).
        shutil.copyfile(
            files / "loop-bios" / "stage.tar.gz", files / "loop-tampered" / "stage.tar.gz"
        )
        res = install_cli(server, mac, token, dev, target, "--steps", steps)
        assert res.returncode == 0, res.stdout + res.stderr
        resumed = [ln.split("[")[1].split("]")[0] for ln in lines_of(res) if "already done" in ln]
        assert resumed == ["partition", "filesystems", "mount"]
        assert not (target / "etc").exists(), "unmounted at the end"
