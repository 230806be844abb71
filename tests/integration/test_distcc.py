"""distcc_hosts in build.toml: FEATURES=distcc, and a real distccd on loopback does the compiles
of the demo packages a pass builds."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import make_test_profile, provision


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_distcc_does_the_compiles(tmp_path: Path) -> None:
    port = free_port()
    # distccd drops to nobody, who cannot enter pytest's private tmp dir
    logdir = Path(tempfile.mkdtemp(prefix="provision-distccd-", dir="/tmp"))
    logdir.chmod(0o777)
    log = logdir / "distccd.log"
    daemon = subprocess.Popen(
        [
            *(
                "distccd",
                "--daemon",
                "--no-detach",
                "--allow",
                "127.0.0.1",
                "--listen",
                "127.0.0.1",
            ),
            *(
                "--port",
                str(port),
                "--log-file",
                str(log),
                "--log-level",
                "info",
                "--user",
                "nobody",
            ),
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        data = tmp_path / "data"
        data.mkdir()
        (data / "build.toml").write_text(f'distcc_hosts = ["127.0.0.1:{port}/2"]\n')
        profiles = make_test_profile(tmp_path / "p", DEMO_REPO, ["app-misc/greeter"])
        provision(data, "build", "t", profiles=profiles)
        make_conf = (DataLayout(data).root("t") / "etc/portage/make.conf").read_text()
        assert f'DISTCC_HOSTS="127.0.0.1:{port}/2"' in make_conf and "distcc" in make_conf
        snap = current_snapshot(data, "t")
        assert snap is not None and "app-misc/greeter-1.0" in read_index(snap / "binhost").cpvs()
        stop_agents(data / "keys")
        jobs = [line for line in log.read_text().splitlines() if "COMPILE_OK" in line]
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        shutil.rmtree(logdir, ignore_errors=True)
    assert any(line.endswith("greet.c") for line in jobs), jobs
    assert any(line.endswith("greeter.c") for line in jobs), jobs
