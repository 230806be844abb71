"""No input can add a line to a generated script or config (hypothesis).

For each renderer of something a machine executes or parses line by line — iPXE scripts, GRUB
and isolinux menus, the installed system's grub.cfg, the stamped config.toml, /etc/hostname and
/etc/hosts, the server's stamped provision.conf — hostile values either are refused with a
ConfigError, or give exactly as many lines as harmless values of the same shape do, with no
line break of any other kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.errors import ConfigError
from provision.hosts import Host, HostState
from provision.install.plan import plan_partitions
from provision.install.render import BootEntry, render_grub_cfg, render_hostname, render_hosts
from provision.iso.menus import load_templates, render_grub, render_isolinux
from provision.iso.stamp import Stamp, render_config
from provision.profiles.model import DiskLayout, Firmware, PartitionTable
from provision.pxe import ipxe
from provision.server.images import bundle_files, stamped_config

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
# Line breaks a shell, GRUB, iPXE or a TOML parser might honour, and a few friends.
BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
HOSTILE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["x\ny", "x\r\nkernel http://evil/", "\n", "${mac}", "$(reboot)", "x' || reboot ||'",
         "x\u2028y", "\x85", "a b", "'", '"', "\\", "#", "x\x00y", "http://evil\n"]
    ),
    st.from_regex(r"\A[a-z0-9:._-]{1,20}\n?\Z"),
)  # fmt: skip
MAC = "52:54:00:12:34:56"
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----\n"


def count(text: str) -> int:
    """Lines, after checking that only \\n breaks them."""
    assert not BREAKS.search(text.replace("\n", "")), repr(text)
    return text.count("\n")


def same_shape(render: Callable[..., str], hostile: dict[str, Any], benign: dict[str, Any]) -> None:
    """render(**hostile) is refused, or has as many lines as render(**benign)."""
    try:
        out = render(**hostile)
    except ConfigError:
        return
    assert count(out) == count(render(**benign)), out


def benign(value: str, good: str) -> str:
    """A harmless stand-in: empty stays empty (some lines only appear for a value)."""
    return good if value else ""


# --- iPXE -----------------------------------------------------------------------------------------
def host(mac: str, hostname: str, profile: str, token: str, boot_local: bool) -> Host:
    return Host(mac, hostname, profile, HostState.NEW, boot_local, False, token, "", 0.0, 0.0)


@SETTINGS
@given(
    mac=st.one_of(st.just(MAC), HOSTILE),
    hostname=HOSTILE,
    profile=HOSTILE,
    token=HOSTILE,
    profiles=st.lists(HOSTILE, max_size=3),
    base=st.one_of(st.just("http://srv:8080"), HOSTILE.map(lambda s: "http://" + s)),
    boot_local=st.booleans(),
    assigned=st.booleans(),
)
def test_ipxe_script_for(
    mac: str, hostname: str, profile: str, token: str, profiles: list[str], base: str,
    boot_local: bool, assigned: bool,
) -> None:  # fmt: skip
    if assigned and profiles:
        profile = profiles[0]
    names = [f"p{i}" for i in range(len(profiles))]
    good_profile = names[profiles.index(profile)] if profile in profiles else benign(profile, "q")
    same_shape(
        lambda h, p, b: ipxe.script_for(h, p, b),
        {"h": host(mac, hostname, profile, token, boot_local), "p": profiles, "b": base},
        {"h": host(MAC, benign(hostname, "h"), good_profile, "t", boot_local), "p": names,
         "b": "http://srv:8080"},
    )  # fmt: skip


@SETTINGS
@given(base=HOSTILE.map(lambda s: "http://" + s), message=HOSTILE)
def test_ipxe_chain_and_menu(base: str, message: str) -> None:
    same_shape(ipxe.chain_script, {"base_url": base}, {"base_url": "http://srv"})
    same_shape(
        lambda b, m: ipxe.menu_script(b, MAC, ["a"], message=m),
        {"b": base, "m": message},
        {"b": "http://srv", "m": benign(message, "gone")},
    )


# --- boot menus on the medium (GRUB, isolinux) and its stamped config.toml ------------------------
TEMPLATES = load_templates()


def stamp(**fields: Any) -> Stamp:
    return Stamp(public_key=KEY, **fields)


@SETTINGS
@given(
    server=HOSTILE.map(lambda s: "http://" + s),
    profile=HOSTILE,
    mac=st.one_of(st.just(""), st.just(MAC), HOSTILE),
    hostname=HOSTILE,
    token=HOSTILE,
    snapshot=HOSTILE,
    offline=st.booleans(),
)
def test_medium_menus_and_config(
    server: str, profile: str, mac: str, hostname: str, token: str, snapshot: str, offline: bool
) -> None:
    fields = dict(server=server, profile=profile, mac=mac, hostname=hostname, token=token,
                  snapshot=snapshot, offline=offline)  # fmt: skip
    good = dict(server="http://srv", profile="p", mac=benign(mac, MAC),
                hostname=benign(hostname, "h"), token=benign(token, "t"),
                snapshot=benign(snapshot, "s"), offline=offline)  # fmt: skip
    try:
        hostile = stamp(**fields)
    except ConfigError:
        return
    harmless = stamp(**good)
    for render in (
        lambda s: render_grub(s, TEMPLATES, 5),
        lambda s: render_isolinux(s, TEMPLATES, 5),
        lambda s: render_config(s, TEMPLATES["config.toml"]),
    ):
        same_shape(render, {"s": hostile}, {"s": harmless})


# --- the installed system -------------------------------------------------------------------------
PLAN = plan_partitions(
    DiskLayout(table=PartitionTable.GPT), devnode="/dev/vda", disk_size=8 << 30,
    firmware=Firmware.UEFI, seed="s",
)  # fmt: skip


@SETTINGS
@given(title=HOSTILE, kernel=HOSTILE, initrd=HOSTILE, cmdline=HOSTILE, uuid=HOSTILE)
def test_installed_grub_cfg(title: str, kernel: str, initrd: str, cmdline: str, uuid: str) -> None:
    uuids = dict.fromkeys(range(1, 5), uuid)
    same_shape(
        lambda e, c, u: render_grub_cfg(PLAN, u, e, cmdline=c),
        {"e": [BootEntry(title, kernel, initrd)], "c": cmdline, "u": uuids},
        {"e": [BootEntry("T", "/vmlinuz", benign(initrd, "/initrd"))], "c": "quiet",
         "u": dict.fromkeys(range(1, 5), "U")},
    )  # fmt: skip


@SETTINGS
@given(name=HOSTILE)
def test_hostname_and_hosts(name: str) -> None:
    same_shape(render_hostname, {"hostname": name}, {"hostname": "web1"})
    same_shape(render_hosts, {"hostname": name}, {"hostname": "web1.example.org"})


# --- the server's stamped files -------------------------------------------------------------------
@SETTINGS
@given(base=HOSTILE.map(lambda s: "http://" + s), profile=HOSTILE)
def test_stamped_config(base: str, profile: str) -> None:
    same_shape(stamped_config, {"base_url": base, "profile": profile},
               {"base_url": "http://srv", "profile": "p"})  # fmt: skip


def test_bundle_files_keep_their_shape(profiles_dir: Any) -> None:
    from provision.profiles import ProfileSet

    profile = ProfileSet(profiles_dir).get("server-amd64")
    with pytest.raises(ConfigError):
        bundle_files(profile, "http://srv\nserver = http://evil")
