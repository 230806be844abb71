"""Helpers for installer tests on loop devices and in VMs: test profiles and a tiny signed stage,
the real server on waitress in a thread, loop disks with untouched-markers, the install CLI."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.live.initramfs import find_kernel
from provision.run import Result, run
from provision.server.app import create_app
from provision.server.settings import ServerSettings
from provision.server.store import Store
from provision.signing import KeyInfo, gpg_argv
from tests.integration.build_fixtures import free_port

MAC_BIOS = "52:54:00:70:00:01"
MAC_UEFI = "52:54:00:70:00:02"
MARKER = b"PROVISION-TEST-UNTOUCHED" * 8
STEPS_NO_PORTAGE = "partition,filesystems,mount,stage,kernel,bootloader,system"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx7 admin@example"

PROFILE_TOML = """
description = "installer test ({fw})"
packages = []
[portage]
profile = "default/linux/amd64/23.0"
[[repositories]]
name = "provision-demo"
location = "{repo}"
[disk]
firmware = "{fw}"
table = "gpt"
select = "first"
{extra}
{parts}
"""
UEFI_PARTS = """
[[disk.partitions]]
mountpoint = "/boot/efi"
size = "100M"
filesystem = "vfat"
[[disk.partitions]]
mountpoint = "/"
size = "rest"
filesystem = "ext4"
"""


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    profiles: Path
    key: KeyInfo

    def store(self) -> Store:
        return Store.in_data_dir(self.data_dir)


def write_profiles(profiles: Path, repo: Path) -> None:
    profiles.mkdir(parents=True, exist_ok=True)
    for name, fw, extra, parts in (
        ("loop-bios", "bios", 'swap = "32M"', ""),
        ("loop-uefi", "uefi", "", UEFI_PARTS),
        ("loop-big", "bios", 'min_size = "64G"', ""),
    ):
        text = PROFILE_TOML.format(fw=fw, repo=repo, extra=extra, parts=parts)
        (profiles / f"{name}.toml").write_text(text)


def make_test_stage(path: Path) -> None:
    """A tiny root: enough for fstab, hostname, shadow and a kernel GRUB can boot."""
    kernel = find_kernel()
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for d in ("etc", "boot", "root", "var/lib", "proc", "dev", "sys", "tmp", "usr/bin"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in (
            ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/shadow", b"root:*:19000:0:99999:7:::\n"),
            ("etc/os-release", b"NAME=provision-test-stage\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(kernel, arcname=f"boot/{kernel.name}")


def publish_stage(server_data: Path, profile: str, stage: Path, sign_home: Path) -> None:
    """Put a stage beside its signed checksum where the api_v1 blueprint serves it."""
    files = server_data / "install" / profile
    files.mkdir(parents=True, exist_ok=True)
    dest = files / stage.name
    shutil.copyfile(stage, dest)
    digest = hashlib.sha512(dest.read_bytes()).hexdigest()
    sums = files / f"{stage.name}.sha512"
    sums.write_text(f"{digest}  {stage.name}\n")
    sig = Path(f"{sums}.asc")
    sig.unlink(missing_ok=True)
    run(gpg_argv(sign_home, "--armor", "--detach-sign", "--output", str(sig), str(sums)))


class Pause:
    """Holds the installer inside its event POST for `step` (a deterministic place to kill it)."""

    def __init__(self) -> None:
        self.step = ""
        self.reached = threading.Event()
        self.release = threading.Event()

    def wrap(self, app: Any) -> Any:
        def middleware(environ: dict[str, Any], start_response: Any) -> Any:
            if self.step and environ["PATH_INFO"].endswith("/events"):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                event = json.loads(body or b"{}")
                if event.get("step") == self.step and event.get("message") == "started":
                    self.reached.set()
                    self.release.wait(120)
            return app(environ, start_response)

        return middleware


PAUSE = Pause()


@contextmanager
def serve(data_dir: Path, profiles: Path, base_url: str = "") -> Iterator[str]:
    """The real app on waitress in a thread on 127.0.0.1 (base_url: how clients reach it,
    by default its real address); yields its real address."""
    from waitress.server import create_server

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = ServerSettings(data_dir, profiles, secret_key="t" * 32, base_url=base_url or url)
    app = create_app(settings)
    app.wsgi_app = PAUSE.wrap(app.wsgi_app)  # type: ignore[method-assign]
    srv = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        srv.close()
        thread.join(timeout=10)


def add_host(data_dir: Path, mac: str, profile: str, *, wipe: bool = False) -> str:
    store = Store.in_data_dir(data_dir)
    try:
        host = store.upsert_host(mac, profile=profile, hostname=f"h{mac[-2:]}", wipe=wipe)
        store.set_host_setting(mac, "ssh_authorized_keys", KEY)
        store.set_host_setting(mac, "root_password_hash", "$6$salt$provisiontesthash")
        return host.token
    finally:
        store.close()


@contextmanager
def loop_disk(path: Path, size: int, *, marker: bool = False) -> Iterator[str]:
    with open(path, "wb") as fh:
        fh.truncate(size)
        if marker:
            for offset in (0, 1 << 20, size - 4096):
                fh.seek(offset)
                fh.write(MARKER)
    dev = run(["losetup", "--find", "--show", "--partscan", str(path)]).stdout.strip()
    try:
        yield dev
    finally:
        run(["losetup", "--detach", dev], check=False)


def untouched(image: Path) -> bool:
    size = image.stat().st_size
    with open(image, "rb") as fh:
        for offset in (0, 1 << 20, size - 4096):
            fh.seek(offset)
            if fh.read(len(MARKER)) != MARKER:
                return False
    return True


def cli_argv(server: Server, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "provision", "--data-dir", str(server.data_dir),
        "--profiles-dir", str(server.profiles), "install", *args,
    ]  # fmt: skip


def install_cli(
    server: Server, mac: str, token: str, dev: str, target: Path, *extra: str
) -> Result:
    argv = cli_argv(
        server, "--server", server.url, "--host", mac, f"--token={token}",
        "--disk", dev, "--target", str(target), *extra,
    )  # fmt: skip
    return run(argv, check=False, timeout=600)


def lines_of(res: Result) -> list[str]:
    return [ln for ln in res.stdout.splitlines() if ln.startswith("provision-install:")]


@contextmanager
def mounted(device: str, where: Path) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    run(["mount", "-o", "ro", device, str(where)])
    try:
        yield where
    finally:
        run(["umount", str(where)])
