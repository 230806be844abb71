"""The installer with real Portage: a real signed binhost (the builder's demo build), a stage
with Portage, `emerge --getbinpkgonly` into the new root on a loop disk; a package missing
from the binhost fails clearly."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from provision.errors import InstallError
from provision.install.context import InstallContext
from provision.install.disks import Disk
from provision.install.events import Events
from provision.install.plan import plan_partitions
from provision.install.state import STATE_PATH
from provision.install.steps.packages import run_emerge
from provision.profiles.model import Firmware
from provision.run import run
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.build_fixtures import DemoBinhost, make_stage_tarball
from tests.integration.build_fixtures import demo_binhost as demo_binhost  # session fixture
from tests.integration.install_fixtures import Server as _Server
from tests.integration.install_fixtures import (
    install_cli,
    lines_of,
    loop_disk,
    publish_stage,
    serve,
)

MAC = "52:54:00:70:02:01"
STEPS = "partition,filesystems,mount,stage,portage,packages,system"


def test_install_from_signed_binhost(demo_binhost: DemoBinhost, tmp_path: Path) -> None:
    data = demo_binhost.data_dir
    stage = tmp_path / "stage.tar.zst"
    shutil.copyfile(make_stage_tarball(), stage)
    publish_stage(data, demo_binhost.profile, stage, demo_binhost.key.sign_home)
    store = Store.in_data_dir(data)
    try:
        token = store.upsert_host(MAC, profile=demo_binhost.profile, hostname="bin1").token
    finally:
        store.close()
    target = tmp_path / "target"
    target.mkdir()
    with serve(data, PROFILES) as url, loop_disk(tmp_path / "disk.img", 4 << 30) as dev:
        server = _Server(url, data, PROFILES, demo_binhost.key)
        try:
            res = install_cli(server, MAC, token, dev, target, "--steps", STEPS, "--no-unmount")
            assert res.returncode == 0, res.stdout + res.stderr
            assert lines_of(res)[-1].startswith("provision-install: finish")
            root = target
            vdb = sorted(
                f"{c.name}/{p.name}" for c in (root / "var/db/pkg").iterdir() for p in c.iterdir()
            )
            assert {
                "sys-apps/demo-base-1.0",
                "app-misc/hello-1.0",
                "app-admin/democonf-1.0",
            } <= set(vdb), vdb
            assert (root / "etc/demo-release").is_file()
            binrepos = (root / "etc/portage/binrepos.conf/provision.conf").read_text()
            assert "verify-signature = true" in binrepos
            assert f"sync-uri = {url}/binhost/server-amd64/" in binrepos
            assert (root / "var/db/repos/provision-demo/profiles/repo_name").is_file()
            log = (root / "var/log/provision-install.log").read_text()
            assert ">>> Emerging binary (" in log and ">>> Emerging (" not in log, log[-3000:]
            assert '"packages"' in (root / STATE_PATH).read_text()
            assert (root / "etc/hostname").read_text() == "bin1\n"
            assert "UUID=" in (root / "etc/fstab").read_text()

            # A package the binhost does not have: a clear error, no source build.
            ctx = _context(target, dev, url, token)
            with pytest.raises(InstallError, match=r"not in the binhost.*dev-libs/cyc-a"):
                run_emerge(ctx, ["dev-libs/cyc-a"])
            assert not any(
                p.name.startswith("cyc-a") for p in (root / "var/db/pkg/dev-libs").glob("*")
            )
        finally:
            run(["umount", "--recursive", "--lazy", str(target)], check=False)


def _context(target: Path, dev: str, url: str, token: str) -> InstallContext:
    from provision.install.config import parse_config
    from provision.install.fetch import get_json

    config = parse_config(get_json(f"{url}/api/v1/hosts/{MAC}/config", token), token=token)
    disk = Disk(devnode=dev, sys_name=Path(dev).name, size=4 << 30)
    plan = plan_partitions(
        config.profile.disk, devnode=dev, disk_size=disk.size, firmware=Firmware.BIOS,
        seed=config.seed,
    )  # fmt: skip
    workdir = target.parent / "work"
    workdir.mkdir(exist_ok=True)
    return InstallContext(target, config, disk, plan, Events(out=io.StringIO()), workdir)
