"""`pip install` as an admin does it: the wheel built from this tree, installed into a clean venv
outside the checkout, runs the commands that need the package's data files (the boot menu
templates, the web UI's templates and static files, the OpenAPI spec) and installs nothing but
the `provision` package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from provision.run import run, spawn
from provision.signing import stop_agents
from tests.conftest import PROFILES, ROOT

pytestmark = pytest.mark.timeout(600)


def copy_tree(dest: Path) -> Path:
    """This checkout's files (tracked and new, not ignored) in dest: the build never writes
    into the checkout (pip builds in the source directory)."""
    names = run(
        ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    ).stdout.split("\0")
    listed = [n for n in names if n and (ROOT / n).is_file()]
    dest.mkdir(parents=True)
    tar = subprocess.run(
        ["tar", "-C", str(ROOT), "--null", "-T", "-", "-cf", "-"],
        input="\0".join(listed).encode(),
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-C", str(dest), "-xf", "-"], input=tar.stdout, check=True)
    return dest


def build_wheel(work: Path) -> Path:
    src = copy_tree(work / "src")
    dist = work / "dist"
    # "./src": a bare name would be looked up on PyPI
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, f"{src}/"], cwd=work)
    (wheel,) = dist.glob("provision-*.whl")
    return wheel


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PROVISION"))}
    env.pop("VIRTUAL_ENV", None)
    return env


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"provision", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    for packaged in (
        "provision/iso_templates/grub.cfg.tmpl",
        "provision/iso_templates/isolinux.cfg.tmpl",
        "provision/server/openapi.json",
        "provision/server/static/app.js",
        "provision/server/templates/hosts.html",
    ):
        assert packaged in names, packaged

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], env=clean_env())
    run([venv / "bin/pip", "install", "-q", wheel], env=clean_env(), timeout=900)
    away = tmp_path / "w"  # outside the checkout (short: gpg-agent sockets live in there)
    away.mkdir()
    env = clean_env()

    def cli(*args: str) -> str:
        argv: list[str | os.PathLike[str]] = [
            venv / "bin/provision",
            "--data-dir",
            "data",
            "--profiles-dir",
            PROFILES,
            *args,
        ]
        return run(argv, cwd=away, env=env, timeout=300).stdout

    where = run([venv / "bin/python", "-c", "import provision; print(provision.__file__)"],
                cwd=away, env=env).stdout  # fmt: skip
    assert where.startswith(str(venv)), where

    assert "server-amd64.toml: ok" in cli("profiles", "check")

    data = away / "data"
    try:
        run([venv / "bin/python", "-c",
             "import pathlib, provision.live.initramfs as i; "
             "i.make_marker_bootkit(pathlib.Path('data/live'))"],
            cwd=away, env=env)  # fmt: skip
        cli("key", "--create")
        out = cli("iso", "server-amd64", "-o", "x.iso", "--server", "http://192.0.2.1:8080")
        assert "profile server-amd64" in out and (away / "x.iso").stat().st_size > 1 << 20

        log = tmp_path / "serve.log"
        server = spawn(
            [venv / "bin/provision", "--data-dir", data, "--profiles-dir", PROFILES,
             "serve", "--listen", "127.0.0.1:0", "--no-build"],
            log_path=log,
            env={**env, "PROVISION_SECRET_KEY": "wheel-test-secret-0123456789"},
        )  # fmt: skip
        try:
            url = wait_for_url(log)
            assert fetch(f"{url}/healthz") == "ok\n"
            assert "<form" in fetch(f"{url}/login")  # the packaged templates
            assert "data-poll" in fetch(f"{url}/static/app.js")  # the packaged static files
            assert '"openapi"' in fetch(f"{url}/api/v1/openapi.json")
        finally:
            server.stop()
    finally:
        stop_agents(data / "keys")


def wait_for_url(log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"serving on (http://127\.0\.0\.1:\d+)/", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"provision serve did not start:\n{log.read_text()}")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text: str = resp.read().decode()
        return text
