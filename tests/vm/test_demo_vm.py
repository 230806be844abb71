"""`provision demo --vm pxe`, the newcomer's path: the demo built from a relative data dir
(`--data-dir var/demo`, as the Makefile passes it), vm-amd64 in a stage root (the Debian-made
stand-in), then a QEMU machine on restricted user networking that boots from the network,
installs itself while the server's API shows it installing with its progress, reboots from its
disk and prints what the installed system says; the last line is the power-on-to-marker time.

Only vm-amd64 is built here (the other demo profiles: tests/integration/test_demo.py).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from provision.demo.settings import DEMO_PASSWORD, GUEST_SERVER
from provision.demo.vm import DEMO_MAC, MARKER
from provision.run import run, spawn
from provision.signing import stop_agents
from tests.conftest import PROFILES, ROOT
from tests.integration.build_fixtures import CACHE, free_port

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]


def cli_env() -> dict[str, str]:
    """The CLI from this tree, whatever the working directory."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}


def api(url: str, token: str = "", body: dict[str, str] | None = None) -> dict[str, object]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as resp:
        result: dict[str, object] = json.load(resp)
        return result


def test_demo_vm_installs_and_reboots(tmp_path: Path) -> None:
    data = tmp_path / "var" / "demo"
    base: list[str | os.PathLike[str]] = [sys.executable, "-m", "provision",
                                          "--profiles-dir", PROFILES]  # fmt: skip
    try:
        built = run(
            [*base, "--data-dir", "var/demo", "demo", "--no-serve", "--profile", "vm-amd64",
             "--iso-profile", "", "--cache", CACHE],
            cwd=tmp_path, env=cli_env(), timeout=1200,
        ).stdout  # fmt: skip
        assert "Debian-made stand-in for a Gentoo stage3" in built
        assert "installable   vm-amd64" in built
        assert 'server_names = ["10.0.2.100"]' in (data / "server.toml").read_text()

        port = free_port()
        log = tmp_path / "demo-vm.log"
        # (spawn runs in this process's directory: here the data dir is given absolutely)
        listen = f"127.0.0.1:{port}"
        demo = spawn([*base, "--data-dir", data, "demo", "--vm", "pxe", "--listen", listen],
                     log_path=log, env=cli_env())  # fmt: skip
        seen = watch_install(log, port)
        rc = demo.proc.wait(timeout=1500)
        out = log.read_text()
        assert rc == 0, out[-4000:]
    finally:
        stop_agents(data / "keys")
    states = {s for s, _ in seen}
    assert {"installing", "installed"} <= states, seen
    progress = [p for _, p in seen if p is not None]
    assert progress and 0 < max(progress) <= 1, seen
    console = (data / "demo-vm/install-serial.log").read_text(errors="replace")
    url = f"http://{GUEST_SERVER}:{port}"
    assert f"provision-install: fetching {url}/api/v1/hosts/{DEMO_MAC}/config" in console
    lines = out.strip().splitlines()
    assert f"{MARKER} hostname=demo-vm" in lines, out[-3000:]
    assert f"{MARKER} package=sys-kernel/demo-kernel-bin-6.1.0" in lines
    assert re.fullmatch(r"power-on to marker: \d+ s", lines[-1]), lines[-1]
    print(lines[-1])  # the figure, in the test's output (-s)


def watch_install(log: Path, port: int) -> list[tuple[str, float | None]]:
    """Poll the admin API as the web UI does while the machine installs: (state, progress)
    of the demo host each time it changes."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while "watch it install" not in (log.read_text() if log.is_file() else ""):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(1)
    token = str(api(f"{url}/api/v1/auth/token", body={"password": DEMO_PASSWORD})["token"])
    seen: list[tuple[str, float | None]] = []
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        try:
            hosts = api(f"{url}/api/v1/hosts", token)["hosts"]
        except OSError:
            break  # the demo stopped its server: the machine is done
        assert isinstance(hosts, list)
        for host in hosts:
            if host["mac"] == DEMO_MAC:
                now = (str(host["state"]), host["progress"])
                if not seen or seen[-1] != now:
                    seen.append(now)
        if seen and seen[-1][0] == "installed":
            break
        time.sleep(2)
    return seen
