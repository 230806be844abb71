"""FEATURES=distcc: a real distccd on loopback does the compiles of a demo package."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from provision.profiles import ProfileSet
from provision.run import run
from tests.integration.portage_env import demo_prefix


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_distcc_does_the_compiles(tmp_path: Path, profiles_dir: Path) -> None:
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
        profile = ProfileSet(profiles_dir).get("server-amd64")
        prefix, _ = demo_prefix(tmp_path / "b", profile, distcc_hosts=(f"127.0.0.1:{port}/2",))
        make_conf = (prefix.config / "make.conf").read_text()
        assert f'DISTCC_HOSTS="127.0.0.1:{port}/2"' in make_conf
        prefix.run("emerge", ["--ask=n", "app-misc/greeter"], log_path=tmp_path / "emerge.log")
        assert run([prefix.root / "usr/bin/greeter"]).stdout == "greetings from libgreet (abi 1)\n"
        jobs = [line for line in log.read_text().splitlines() if "COMPILE_OK" in line]
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        shutil.rmtree(logdir, ignore_errors=True)
    assert any(line.endswith("greet.c") for line in jobs), jobs
    assert any(line.endswith("greeter.c") for line in jobs), jobs
