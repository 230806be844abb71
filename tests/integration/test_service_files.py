"""The service files in contrib/: the systemd unit passes `systemd-analyze verify` (and its
offline security review) against a root holding the unit and its ExecStart, the sysusers file
makes the dedicated user, and the OpenRC script passes shellcheck and assembles the command
line openrc-run will run.  (systemd is not PID 1 here: nothing is started.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from provision.run import run
from tests.conftest import ROOT

CONTRIB = ROOT / "contrib"
UNIT = CONTRIB / "systemd" / "provision.service"
INITD = CONTRIB / "openrc" / "provision.initd"
CONFD = CONTRIB / "openrc" / "provision.confd"
EXEC = "/opt/provision/bin/provision"


def systemd_root(tmp: Path, unit_text: str) -> Path:
    """A root for `systemd-analyze --root`: the system's units, this unit, its ExecStart."""
    root = tmp / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/provision.service").write_text(unit_text)
    exe = root / EXEC.lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def verify(root: Path) -> str:
    res = run(["systemd-analyze", "verify", f"--root={root}", "provision.service"], check=False)
    return (res.stdout + res.stderr).strip() + (
        "" if res.returncode == 0 else f" rc={res.returncode}"
    )


def test_systemd_unit_verifies_clean(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert verify(systemd_root(tmp_path, text)) == ""
    review = run(["systemd-analyze", "security", "--offline=true", f"--root={tmp_path / 'root'}",
                  "provision.service"], check=False)  # fmt: skip
    level = re.search(r"Overall exposure level for provision\.service: ([0-9.]+)", review.stdout)
    assert level and float(level.group(1)) <= 5.0, review.stdout[-2000:]


def test_systemd_verify_catches_mistakes(tmp_path: Path) -> None:
    """The check above can fail: a misspelt sandbox key is reported."""
    bad = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict")
    assert "Unknown key 'ProtectSystm'" in verify(systemd_root(tmp_path, bad))


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_systemd_unit_sandbox() -> None:
    d = directives(UNIT.read_text())
    assert d["User"] == ["provision"] and d["Group"] == ["provision"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
    assert d["ReadWritePaths"] == ["/var/lib/provision"]
    assert d["StateDirectory"] == ["provision"]
    assert "PROVISION_DATA_DIR=/var/lib/provision" in d["Environment"]
    caps = {"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"}  # network boot only
    assert set(d["CapabilityBoundingSet"][0].split()) == caps
    assert set(d["AmbientCapabilities"][0].split()) == caps
    assert d["ExecStart"][0].startswith(f"{EXEC} serve ")


def test_sysusers_makes_the_user(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/sysusers.d").mkdir(parents=True)
    shutil.copyfile(CONTRIB / "systemd/provision.sysusers", root / "etc/sysusers.d/provision.conf")
    run(["systemd-sysusers", f"--root={root}"])
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^provision:x:\d+:\d+:[^:]*:/var/lib/provision:", passwd, re.M), passwd


@pytest.mark.parametrize("path", [INITD, CONFD], ids=["init.d", "conf.d"])
def test_openrc_files_pass_shellcheck(path: Path) -> None:
    res = run(["shellcheck", "--shell=sh", str(path)], check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def openrc_view(tmp: Path, conf_text: str) -> str:
    """What openrc-run sees: conf.d, then the script (sourced by sh); its variables and
    start_pre, with stubs for OpenRC's helpers (checkpath, eerror)."""
    conf = tmp / "confd"
    conf.write_text(CONFD.read_text() + conf_text)
    script = (
        'RC_SVCNAME=provision; checkpath() { echo checkpath "$@"; }; eerror() { echo "$@"; }\n'
        f". {conf}\n. {INITD}\n"
        'echo "cmd=$command $command_args"\necho "user=$command_user caps=$capabilities"\n'
        'echo "nnp=$no_new_privs pid=$pidfile"\nstart_pre && echo started\n'
    )
    return run(["sh", "-c", script], check=False).stdout


def test_openrc_script_assembles_the_command(tmp_path: Path) -> None:
    exe = tmp_path / "provision"  # the installed command
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    logs = f'PROVISION_LOG_DIR="{tmp_path}/log"\n'
    out = openrc_view(tmp_path, f'PROVISION_BIN="{exe}"\n' + logs
                      + 'PROVISION_SERVE_ARGS="--tftp 0.0.0.0:69"\n')  # fmt: skip
    assert (
        f"cmd={exe} --data-dir /var/lib/provision --profiles-dir /etc/provision/profiles serve "
        "--listen 127.0.0.1:8080 --tftp 0.0.0.0:69" in out
    ), out
    assert "user=provision:provision caps=^cap_net_bind_service,^cap_net_raw,^cap_net_admin" in out
    assert "nnp=yes pid=/run/provision.pid" in out
    assert "checkpath --directory --owner provision:provision --mode 0750 /var/lib/provision" in out
    assert out.rstrip().endswith("started")
    # not installed: start_pre says so and refuses to start
    missing = openrc_view(tmp_path, f'PROVISION_BIN="{tmp_path}/nope"\n' + logs)
    assert "not found" in missing and "started" not in missing
