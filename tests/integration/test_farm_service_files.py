"""The farm's service files in contrib/: the worker and mirror systemd units pass
`systemd-analyze verify`, the worker's OpenRC script passes shellcheck and assembles the
`provision worker` command line openrc-run will run.  (Nothing is started here.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provision.run import run
from tests.conftest import ROOT

CONTRIB = ROOT / "contrib"
EXEC = "/opt/provision/bin/provision"
INITD = CONTRIB / "openrc" / "provision-worker.initd"
CONFD = CONTRIB / "openrc" / "provision-worker.confd"


def verify(tmp: Path, name: str, text: str) -> str:
    root = tmp / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / name).write_text(text)
    (root / "etc/provision").mkdir(parents=True)
    (
        root / "etc/provision" / name.replace("provision-", "").replace(".service", ".env")
    ).write_text(
        "BROKER=redis://10.0.0.2:6379/0\nSERVER=http://srv:8080\nSOURCE=http://srv:8080\n"
        "FINGERPRINT=0123456789ABCDEF0123456789ABCDEF01234567\n"
    )
    exe = root / EXEC.lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    res = run(["systemd-analyze", "verify", f"--root={root}", name], check=False)
    return (res.stdout + res.stderr).strip() + (
        "" if res.returncode == 0 else f" rc={res.returncode}"
    )


@pytest.mark.parametrize("name", ["provision-worker.service", "provision-mirror.service"])
def test_systemd_units_verify_clean(tmp_path: Path, name: str) -> None:
    text = (CONTRIB / "systemd" / name).read_text()
    assert verify(tmp_path, name, text) == ""
    assert "Unknown key" in verify(
        tmp_path / "bad", name, text.replace("ProtectHome", "ProtectHme")
    )


@pytest.mark.parametrize("path", [INITD, CONFD], ids=["init.d", "conf.d"])
def test_openrc_files_pass_shellcheck(path: Path) -> None:
    res = run(["shellcheck", "--shell=sh", str(path)], check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def openrc_view(tmp: Path, conf_text: str) -> str:
    """What openrc-run sees: conf.d, then the script (sourced by sh), with stubs for OpenRC's
    helpers."""
    conf = tmp / "confd"
    conf.write_text(CONFD.read_text() + conf_text)
    script = (
        "RC_SVCNAME=provision-worker\n"
        'checkpath() { echo checkpath "$@"; }; eerror() { echo "$@"; }\n'
        f". {conf}\n. {INITD}\n"
        'echo "cmd=$command $command_args"\nstart_pre && echo started\n'
    )
    return run(["sh", "-c", script], check=False).stdout


def test_openrc_script_assembles_the_worker_command(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("pfw_x\n")
    logs = f'PROVISION_LOG_DIR="{tmp_path}/log"\n'
    out = openrc_view(
        tmp_path,
        f'PROVISION_TOKEN_FILE="{token}"\n{logs}PROVISION_WORKER_ARGS="--profiles desktop-amd64"\n',
    )
    assert (
        f"cmd={EXEC} worker --broker redis://10.0.0.2:6379/0 --server "
        f"http://provision.example.org:8080 --token-file {token} --data-dir "
        "/var/lib/provision-worker --profiles desktop-amd64" in out
    ), out
    assert out.rstrip().endswith("started")
    missing = openrc_view(tmp_path, f'PROVISION_TOKEN_FILE="{tmp_path}/none"\n{logs}')
    assert "no worker token" in missing and "started" not in missing
