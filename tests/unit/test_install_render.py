"""Pure renderers for the target's files, and the config document round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.commands.install import parse_cmdline
from provision.errors import ConfigError, InstallError
from provision.install.config import config_document, parse_config, profile_from_dict
from provision.install.fetch import parse_sha512_file
from provision.install.plan import plan_partitions
from provision.install.render import (
    BootEntry,
    Network,
    boot_path,
    kernel_version,
    render_authorized_keys,
    render_fstab,
    render_grub_cfg,
    render_netifrc,
    render_networkd,
    set_shadow_password,
)
from provision.install.steps.packages import emerge_argv, missing_binaries
from provision.install.steps.portage import portage_files, profile_link
from provision.profiles import ProfileSet
from provision.profiles.model import DiskLayout, Firmware, PartitionTable

GiB = 1 << 30


def _desktop_plan(profiles_dir: Path):  # type: ignore[no-untyped-def]
    layout = ProfileSet(profiles_dir).get("desktop-amd64").disk
    return plan_partitions(
        layout, devnode="/dev/vda", disk_size=8 * GiB, firmware=Firmware.UEFI, seed="s"
    )


def test_fstab(profiles_dir: Path) -> None:
    plan = _desktop_plan(profiles_dir)
    uuids = {1: "AAAA-BBBB", 2: "swap-uuid", 3: "root-uuid"}
    assert render_fstab(plan, uuids).splitlines()[2:] == [
        "UUID=root-uuid\t/\text4\tdefaults,noatime\t0 1",
        "UUID=AAAA-BBBB\t/boot\tvfat\tumask=0077\t0 2",
        "UUID=swap-uuid\tnone\tswap\tsw\t0 0",
    ]


def test_grub_cfg_separate_boot(profiles_dir: Path) -> None:
    plan = _desktop_plan(profiles_dir)
    assert boot_path(plan, "/boot/vmlinuz-6.1") == "/vmlinuz-6.1"
    text = render_grub_cfg(
        plan,
        {1: "AAAA-BBBB", 3: "root-uuid"},
        [BootEntry("Gentoo 6.1", "/vmlinuz-6.1", "/initramfs-6.1.img")],
        cmdline="console=ttyS0",
    )
    assert "insmod part_gpt\ninsmod fat\n" in text
    assert "search --no-floppy --fs-uuid --set=root AAAA-BBBB" in text
    assert "\tlinux /vmlinuz-6.1 root=UUID=root-uuid ro console=ttyS0\n" in text
    assert "\tinitrd /initramfs-6.1.img\n" in text


def test_grub_cfg_root_only_mbr() -> None:
    plan = plan_partitions(
        DiskLayout(table=PartitionTable.MBR),
        devnode="/dev/sda",
        disk_size=4 * GiB,
        firmware=Firmware.BIOS,
        seed="s",
    )
    assert boot_path(plan, "/boot/vmlinuz-6.1") == "/boot/vmlinuz-6.1"
    text = render_grub_cfg(plan, {1: "r"}, [BootEntry("G", "/boot/vmlinuz-6.1")])
    assert "insmod part_msdos\ninsmod ext2\n" in text and "initrd" not in text
    with pytest.raises(ConfigError, match="no kernel image"):
        render_grub_cfg(plan, {1: "r"}, [])


@pytest.mark.parametrize(
    ("name", "version"),
    [("vmlinuz-6.1.0-13-amd64", "6.1.0-13-amd64"), ("config-6.1.0", ""),
     ("kernel-6.6.1-gentoo-dist", "6.6.1-gentoo-dist"), ("System.map-6.1", "")],
)  # fmt: skip
def test_kernel_version(name: str, version: str) -> None:
    assert kernel_version(name) == version


def test_network() -> None:
    assert (
        render_networkd(Network.parse("dhcp")) == "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
    )
    static = Network.parse("static 192.0.2.10/24 gw=192.0.2.1 dns=192.0.2.53,192.0.2.54")
    assert render_networkd(static).endswith(
        "Address=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\nDNS=192.0.2.54\n"
    )
    assert render_netifrc(static) == (
        'config_eth0="192.0.2.10/24"\nroutes_eth0="default via 192.0.2.1"\n'
        'dns_servers_eth0="192.0.2.53 192.0.2.54"\n'
    )
    assert render_netifrc(Network()) == 'config_eth0="dhcp"\n'
    with pytest.raises(ConfigError, match=r"settings\.network"):
        Network.parse("static 192.0.2.10")


def test_shadow_and_keys() -> None:
    shadow = "root:*:19000:0:99999:7:::\nbin:*:19000::::::\n"
    assert set_shadow_password(shadow, "root", "$6$salt$hash").splitlines()[0] == (
        "root:$6$salt$hash:19000:0:99999:7:::"
    )
    assert set_shadow_password("", "root", "$6$x").strip() == "root:$6$x:19000:0:99999:7:::"
    with pytest.raises(ConfigError):
        set_shadow_password(shadow, "root", "bad:hash")
    assert render_authorized_keys(("ssh-ed25519 AAAA a@b",)) == "ssh-ed25519 AAAA a@b\n"


def test_config_document_round_trip(profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("laptop-amd64")
    doc = config_document(
        host_id="52:54:00:00:00:07",
        hostname="lap7",
        profile=profile,
        settings={"ssh_authorized_keys": "ssh-ed25519 AAAA x\n\n", "network": "dhcp", "junk": "x"},
        base_url="http://srv:8080/",
        wipe=True,
        stage_url="http://srv:8080/api/v1/files/laptop-amd64/stage.tar.xz",
    )
    config = parse_config(json.loads(json.dumps(doc)), token="t")
    assert config.profile == profile
    assert config.settings.hostname == "lap7" and config.wipe and config.token == "t"
    assert config.settings.ssh_authorized_keys == ("ssh-ed25519 AAAA x",)
    assert config.sources.binhost_url == "http://srv:8080/binhost/laptop-amd64/"
    assert config.sources.key_url == "http://srv:8080/key.asc"
    assert config.events_url == "http://srv:8080/api/v1/hosts/52:54:00:00:00:07/events"
    assert config.seed == "52:54:00:00:00:07/laptop-amd64"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        pytest.param(lambda d: d["profile"].update(colour=1), "unknown keys", id="unknown-key"),
        pytest.param(
            lambda d: d["profile"].update(packages="x"), "profile.packages", id="not-list"
        ),
        pytest.param(lambda d: d["profile"]["disk"].update(firmware="efi"), "profile", id="enum"),
        pytest.param(lambda d: d["settings"].update(network=3), "settings.network", id="type"),
    ],
)
def test_bad_config_document(profiles_dir: Path, mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    doc = config_document(
        host_id="h", hostname="", profile=ProfileSet(profiles_dir).get("server-amd64"),
        settings={}, base_url="http://s", wipe=False,
    )  # fmt: skip
    doc = json.loads(json.dumps(doc))
    mutate(doc)
    with pytest.raises(ConfigError, match=where):
        parse_config(doc)


def test_profile_from_dict_rejects_garbage() -> None:
    with pytest.raises(ConfigError):
        profile_from_dict([1, 2])


def test_portage_files(profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    doc = config_document(
        host_id="h", hostname="s1", profile=profile, settings={}, base_url="http://srv", wipe=False
    )
    config = parse_config(json.loads(json.dumps(doc)))
    files = portage_files(config)
    assert files["/etc/portage/binrepos.conf/provision.conf"] == (
        "[provision]\npriority = 9999\nsync-uri = http://srv/binhost/server-amd64/\n"
        "verify-signature = true\n"
    )
    make_conf = files["/etc/portage/make.conf"]
    assert 'BINPKG_GPG_VERIFY_GPG_HOME="/etc/portage/gnupg"' in make_conf
    assert "binpkg-request-signature" in make_conf and "INSTALL_MASK=" in make_conf
    assert (
        "location = /var/db/repos/provision-demo" in files["/etc/portage/repos.conf/provision.conf"]
    )
    assert (
        profile_link(config)
        == "../../var/db/repos/provision-demo/profiles/default/linux/amd64/23.0"
    )


def test_emerge_argv_and_missing() -> None:
    argv = emerge_argv(["@system", "app-misc/hello"])
    assert argv[0] == "emerge" and "--getbinpkgonly" in argv and "--usepkgonly" in argv
    assert argv[-2:] == ["@system", "app-misc/hello"]
    log = 'emerge: there are no binary packages to satisfy "app-misc/nope".\n'
    assert missing_binaries(log) == ["app-misc/nope"]


def test_parse_cmdline() -> None:
    line = (
        "BOOT_IMAGE=/vmlinuz console=ttyS0 provision.server=http://s:8080 provision.host=h1 quiet"
    )
    assert parse_cmdline(line) == {"server": "http://s:8080", "host": "h1"}


def test_parse_sha512_file() -> None:
    digest = "ab" * 64
    assert parse_sha512_file(f"# SHA512\n{digest}  stage.tar.xz\n", "stage.tar.xz") == digest
    assert parse_sha512_file(f"{digest.upper()} *stage.tar.xz\n", "stage.tar.xz") == digest
    assert parse_sha512_file(digest + "\n", "x") == digest
    with pytest.raises(InstallError, match=r"no SHA-512 for stage\.tar\.xz"):
        parse_sha512_file(f"{digest}  other.tar.xz\n", "stage.tar.xz")
