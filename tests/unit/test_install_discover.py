"""The installer's side of the fleet: it refuses a profile whose binaries this CPU cannot run
before any disk is touched (unless forced), and waits for a profile while the server has none."""

from __future__ import annotations

import io
import json
import urllib.error
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from provision.cli import main
from provision.errors import InstallError
from provision.fleet.inventory import CpuFacts
from provision.install import discover
from provision.install import inventory as inventory_mod
from provision.profiles import ProfileSet
from tests.conftest import PROFILES
from tests.unit.fleet_samples import NEHALEM, NEHALEM_MINUS, cpuinfo


def cpu(sample: str) -> CpuFacts:
    info = cpuinfo(sample)
    return CpuFacts(info.model, info.vendor, "x86_64", info.flags, 1, 1)


def test_refusal_names_the_missing_flags() -> None:
    laptop = ProfileSet(PROFILES).get("laptop-amd64")
    with pytest.raises(InstallError) as err:
        discover.check_cpu(laptop, cpu(NEHALEM_MINUS), force=False)
    text = str(err.value)
    assert text.startswith(
        "this machine's CPU (Intel Core i7 9xx (Nehalem Class Core i7)) cannot run profile "
        "laptop-amd64: needs x86-64-v2; this CPU is x86-64-v1: missing popcnt, sse4_2. "
        "Nothing was written to any disk."
    )
    assert "--force" in text and "\n" not in text
    discover.check_cpu(laptop, cpu(NEHALEM), force=False)  # fits
    out = io.StringIO()
    discover.check_cpu(laptop, cpu(NEHALEM_MINUS), force=True, out=out)
    assert "WARNING" in out.getvalue() and "forced by the admin" in out.getvalue()


def test_install_refuses_before_any_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`provision install --profile laptop-amd64` on a v1 CPU: exit 2, one line, and no disk
    is even looked at for partitioning (the dry run would print the plan)."""
    monkeypatch.setattr(inventory_mod, "read_cpu", lambda root, machine: cpu(NEHALEM_MINUS))
    monkeypatch.setattr("provision.install.disks.scan", lambda ignore_under="": [])
    argv = ["--profiles-dir", str(PROFILES), "install", "--profile", "laptop-amd64", "--dry-run",
            "--target", str(tmp_path / "t"), "--cmdline", str(tmp_path / "none")]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "cannot run profile laptop-amd64" in captured.err
    assert captured.err.count("\n") == 1
    assert "provision-install: failure [cpu]" in captured.out
    assert "sfdisk script" not in captured.out
    # forced by the admin: it goes on to the plan (and finds no disk here)
    assert main([*argv, "--force"]) == 2
    captured = capsys.readouterr()
    assert "installing anyway" in captured.out and "no disk matches" in captured.err


class FakeResponse(io.BytesIO):
    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


def test_wait_for_config(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Any] = [409, 409, {"profile": {"name": "vm-amd64"}}]
    slept: list[float] = []

    def request(url: str, token: str, body: bytes | None = None, timeout: float = 30) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, int):
            raise urllib.error.HTTPError(
                url, answer, "Conflict", Message(),
                io.BytesIO(json.dumps({"error": "host has no profile yet"}).encode()),
            )  # fmt: skip
        return FakeResponse(json.dumps(answer).encode())

    monkeypatch.setattr(discover, "_request", request)
    out = io.StringIO()
    doc = discover.wait_for_config(
        "http://srv/api/v1/hosts/m/config", "t", poll=3, out=out,
        explain=["rule a (→ p): no: chassis desktop is not laptop"], picker="http://srv/picker",
        sleep=slept.append,
    )  # fmt: skip
    assert doc == {"profile": {"name": "vm-amd64"}}
    assert slept == [3, 3]
    text = out.getvalue()
    assert text.count("waiting for a profile: host has no profile yet") == 1
    assert "chassis desktop is not laptop" in text and "choose one at http://srv/picker" in text


def test_wait_gives_up_and_other_errors_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    def conflict(url: str, token: str, body: bytes | None = None, timeout: float = 30) -> Any:
        raise urllib.error.HTTPError(url, 409, "Conflict", Message(), io.BytesIO(b"{}"))

    monkeypatch.setattr(discover, "_request", conflict)
    with pytest.raises(InstallError, match="no profile for this machine after 0 s"):
        discover.wait_for_config("http://srv/x", "t", timeout=1e-9, sleep=lambda s: None,
                                 out=io.StringIO())  # fmt: skip

    def unauthorized(url: str, token: str, body: bytes | None = None, timeout: float = 30) -> Any:
        raise urllib.error.HTTPError(
            url, 401, "Unauthorized", Message(), io.BytesIO(b'{"error": "bad token"}')
        )

    monkeypatch.setattr(discover, "_request", unauthorized)
    with pytest.raises(InstallError, match="answered 401 Unauthorized: bad token"):
        discover.wait_for_config("http://srv/x", "t", out=io.StringIO())


def test_unknowable_requirement_is_refused_unless_forced() -> None:
    from dataclasses import replace

    vm = ProfileSet(PROFILES).get("vm-amd64")
    native = replace(vm, portage=replace(vm.portage, cflags="-O2 -march=native"))
    with pytest.raises(InstallError, match=r"CPU requirement cannot be known .*-march=native"):
        discover.check_cpu(native, cpu(NEHALEM), force=False)
    out = io.StringIO()
    discover.check_cpu(native, cpu(NEHALEM), force=True, out=out)
    assert "installing anyway" in out.getvalue()
