from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import ConfigError, NotFound
from provision.profiles import ProfileSet, load_profile
from provision.profiles.load import merge_tables
from provision.profiles.model import Firmware, MergeAction

GOOD = """
description = "t"
packages = ["app-misc/hello", ">=dev-libs/nss-3.45"]
[portage]
profile = "default/linux/amd64/23.0"
use = ["ipv6"]
[[repositories]]
name = "demo"
location = "repo"
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def test_secure_boot_profile(profiles_dir: Path) -> None:
    sb = ProfileSet(profiles_dir).get("vm-amd64-sb")
    assert sb.secure_boot and sb.disk.firmware.value == "uefi"
    assert sb.kernel.package == "sys-kernel/demo-kernel-bin"  # inherited from vm-amd64
    assert not ProfileSet(profiles_dir).get("vm-amd64").secure_boot


def test_bundled_profiles_load(profiles_dir: Path) -> None:
    names = ProfileSet(profiles_dir).names()
    assert {"desktop-amd64", "laptop-amd64", "server-amd64"} <= set(names)
    for profile in ProfileSet(profiles_dir):
        assert profile.repositories[0].name == "provision-demo"
        assert Path(profile.repositories[0].location).is_dir()


def test_inheritance_merges_and_appends(profiles_dir: Path) -> None:
    laptop = ProfileSet(profiles_dir).get("laptop-amd64")
    assert laptop.inherits == "desktop-amd64"
    # incremental arrays append to the parent's
    assert laptop.portage.use == ("ipv6", "-X", "wifi", "acpi")
    assert laptop.kernel.config == ("CONFIG_DRM=y", "CONFIG_SND=y", "CONFIG_CFG80211=y")
    # scalars replace; untouched tables come from the parent
    assert laptop.disk.select == "first"
    assert laptop.disk.swap == 1 << 30
    assert laptop.disk.firmware is Firmware.UEFI
    assert laptop.portage.cflags == "-O2 -pipe -march=x86-64-v2"
    assert laptop.packages == ("app-misc/hello", "app-misc/greeter", "app-admin/democonf")
    assert laptop.etc_merge.rules[0].action is MergeAction.ASK


def test_incremental_minus_removes() -> None:
    merged = merge_tables({"packages": ["a/b", "c/d"]}, {"packages": ["-a/b", "e/f"]})
    assert merged["packages"] == ["c/d", "e/f"]


def test_good_profile(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, "good", GOOD))
    assert p.packages == ("app-misc/hello", ">=dev-libs/nss-3.45")
    assert p.repositories[0].location == str((tmp_path / "repo").resolve())


BAD = [
    pytest.param("colour = 1\n" + GOOD, "good.toml: colour: unknown key", id="unknown-key"),
    pytest.param(
        GOOD + "[kernel]\nmin_version = 5\n",
        "kernel.min_version: expected a string, got integer 5",
        id="wrong-type",
    ),
    pytest.param(
        GOOD.replace("app-misc/hello", "hello"),
        "packages[0]: 'hello' is not a valid package atom",
        id="bad-atom",
    ),
    pytest.param(
        GOOD.replace(">=dev-libs/nss-3.45", "dev-libs/nss-3.45"),
        "packages[1]: 'dev-libs/nss-3.45'",
        id="version-no-op",
    ),
    pytest.param(
        GOOD + '[disk]\n[[disk.partitions]]\nmountpoint = "/"\nsize = "12 parsecs"\n',
        "disk.partitions[0].size: '12 parsecs' is not a valid size",
        id="bad-size",
    ),
    pytest.param(
        GOOD + '[disk]\nfirmware = "coreboot"\n',
        "disk.firmware: 'coreboot' is not allowed (one of: bios",
        id="bad-choice",
    ),
    pytest.param(
        'inherits = "nope"\n' + GOOD,
        "inherits: parent profile 'nope' not found",
        id="missing-parent",
    ),
    pytest.param(
        GOOD.replace('use = ["ipv6"]', 'use = ["ip v6"]'),
        "portage.use[0]: 'ip v6' is not a USE flag",
        id="bad-use",
    ),
    pytest.param(
        GOOD.replace("[[repositories]]", "[[repos]]"),
        "repos: unknown key",
        id="missing-repositories",
    ),
    pytest.param("[portage\n", "not valid TOML", id="bad-toml"),
    pytest.param(
        GOOD.replace('profile = "default/linux/amd64/23.0"', ""),
        "portage.profile: required",
        id="no-profile",
    ),
    pytest.param(
        GOOD + '[[bootstrap]]\natom = "dev-libs/cyc-b"\nuse = [1]\n',
        "bootstrap[0].use[0]: expected a string",
        id="bad-bootstrap",
    ),
    pytest.param(
        GOOD + '[etc_merge]\n[[etc_merge.rules]]\npath = "/etc/x"\naction = "shred"\n',
        "etc_merge.rules[0].action: 'shred' is not allowed",
        id="bad-merge-action",
    ),
    pytest.param(
        GOOD
        + '[disk]\n[[disk.partitions]]\nmountpoint = "/home"\n'
        + '[[disk.partitions]]\nmountpoint = "/"\n',
        "only one partition may take the 'rest'",
        id="two-rest",
    ),
    pytest.param(
        GOOD + "[portage.extra]\nlower = 'x'\n",
        "portage.extra.lower: 'lower' is not a make.conf variable",
        id="bad-var",
    ),
    pytest.param(
        "secure_boot = true\n" + GOOD + '[disk]\nfirmware = "bios"\n',
        "secure_boot: Secure Boot is UEFI's",
        id="secure-boot-on-bios",
    ),
    pytest.param("secure_boot = 'yes'\n" + GOOD, "secure_boot", id="secure-boot-not-bool"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_profiles(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "good", text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_inheritance_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a", 'inherits = "b"\n' + GOOD)
    write(tmp_path, "b", 'inherits = "a"\n' + GOOD)
    with pytest.raises(ConfigError, match="inheritance cycle: a -> b -> a"):
        ProfileSet(tmp_path).get("a")


def test_name_must_match_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must match the file name"):
        load_profile(write(tmp_path, "x", 'name = "y"\n' + GOOD))


def test_unknown_profile(profiles_dir: Path) -> None:
    with pytest.raises(NotFound, match="unknown profile 'nope' \\(known: desktop-amd64"):
        ProfileSet(profiles_dir).get("nope")
