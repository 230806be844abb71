"""provision doctor: the pure table, its evaluation against a fake probe, the data dir rules."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provision.cli import main
from provision.commands.doctor import data_dir_facts
from provision.doctor import (
    GROUPS,
    NEEDS,
    DirFacts,
    Feature,
    Kind,
    Need,
    check_data_dir,
    evaluate,
    failures,
    features_for,
    render,
)


def test_every_need_names_its_packages() -> None:
    for need in NEEDS:
        assert need.gentoo and need.debian and need.why, need
    whats = [n.what for n in NEEDS]
    assert len(whats) == len(set(whats))
    # the list: Portage, gpg, bwrap, dnsmasq, iPXE/syslinux/GRUB/OVMF, qemu, BIND tools
    for what in (
        "Portage (Python)",
        "gpg",
        "bwrap",
        "dnsmasq",
        "undionly.kpxe",
        "isolinux.bin",
        "GRUB for UEFI",
        "OVMF",
        "qemu-system-x86_64",
        "tsig-keygen",
    ):
        assert what in whats, what  # fmt: skip
    assert {n.feature for n in NEEDS} == set(Feature)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["server"], {Feature.CORE, Feature.BUILD}, id="server"),
        pytest.param(["demo"], set(GROUPS["demo"]), id="demo"),
        pytest.param(["pxe", "dns"], {Feature.PXE, Feature.DNS}, id="features"),
        pytest.param(["all"], set(Feature), id="all"),
    ],
)
def test_features_for(names: list[str], expected: set[Feature]) -> None:
    assert features_for(names) == expected


def test_features_for_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="'nope' is not a feature"):
        features_for(["nope"])


GPG = Need("gpg", Kind.PROGRAM, ("gpg",), Feature.CORE, "app-crypt/gnupg", "gnupg", "signs")
QEMU = Need("qemu", Kind.PROGRAM, ("qemu",), Feature.DEMO_VM, "app-emulation/qemu", "qemu-x", "vm")
OVMF = Need("OVMF", Kind.FILE, ("/x",), Feature.DEMO_VM, "edk2", "ovmf", "uefi", optional=True)


def test_missing_required_parts_fail_with_their_packages() -> None:
    findings = evaluate([GPG, QEMU, OVMF], lambda n: "/usr/bin/gpg" if n is GPG else "")
    assert [f.need for f in failures(findings, {Feature.CORE})] == []
    assert [f.need for f in failures(findings, {Feature.CORE, Feature.DEMO_VM})] == [QEMU]
    text = "\n".join(render(findings, {Feature.CORE, Feature.DEMO_VM}))
    assert "ok       gpg" in text and "/usr/bin/gpg" in text
    assert "MISSING  qemu" in text and "Gentoo: app-emulation/qemu  Debian: qemu-x" in text
    assert "missing  OVMF" in text  # optional: reported, not a failure


def test_need_must_look_for_something() -> None:
    with pytest.raises(ValueError, match="nothing to look for"):
        Need("x", Kind.FILE, (), Feature.CORE, "a", "b", "c")


DIR = stat.S_IFDIR | 0o750


@pytest.mark.parametrize(
    ("facts", "problem"),
    [
        pytest.param(DirFacts("/d", DIR, True, 0o40700, 0o100600), "", id="fine"),
        pytest.param(DirFacts("/d", None, True), "", id="will-be-created"),
        pytest.param(DirFacts("/d", None, False), "cannot be created", id="cannot-create"),
        pytest.param(DirFacts("/d", stat.S_IFREG | 0o644, True), "not a directory", id="file"),
        pytest.param(DirFacts("/d", DIR, False), "not writable", id="read-only"),
        pytest.param(DirFacts("/d", stat.S_IFDIR | 0o777, True), "world-writable", id="o+w"),
        pytest.param(DirFacts("/d", DIR, True, 0o40755), "keys/sign", id="open-secret-key"),
        pytest.param(DirFacts("/d", DIR, True, None, 0o100644), "server.toml", id="open-config"),
    ],
)
def test_data_dir(facts: DirFacts, problem: str) -> None:
    problems = check_data_dir(facts)
    if problem:
        assert len(problems) == 1 and problem in problems[0], problems
    else:
        assert problems == []


def test_data_dir_facts_of_a_new_dir(tmp_path: Path) -> None:
    facts = data_dir_facts(tmp_path / "not" / "yet")
    assert facts.mode is None and facts.writable


def test_unknown_feature_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--for", "nope"]) == 2
    assert "--for: 'nope' is not a feature" in capsys.readouterr().err
