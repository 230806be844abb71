"""iPXE scripts per host (pure renderers)."""

from __future__ import annotations

import pytest

from provision.errors import ConfigError
from provision.hosts import Host, HostState
from provision.pxe import ipxe

BASE = "http://192.0.2.1:8080"
MAC = "52:54:00:12:34:56"
PROFILES = ["desktop-amd64", "server-amd64"]


def host(**kw: object) -> Host:
    values: dict[str, object] = dict(
        mac=MAC, hostname="", profile="", state=HostState.NEW, boot_local=False, wipe=False,
        token="tok-en_1", ip="", created=0.0, updated=0.0,
    )  # fmt: skip
    values.update(kw)
    return Host(**values)  # type: ignore[arg-type]


def test_chain_script() -> None:
    assert ipxe.chain_script(BASE + "/") == (
        "#!ipxe\n"
        "# provision: chain to this machine's own boot script\n"
        f"chain --autofree {BASE}/boot/${{mac}}.ipxe || goto failed\n"
        ":failed\n"
        "echo provision: could not fetch the boot script from the server; retrying in 10 s\n"
        "sleep 10\n"
        f"chain --autofree {BASE}/boot/${{mac}}.ipxe\n"
    )


def test_install_script() -> None:
    text = ipxe.script_for(host(profile="desktop-amd64"), PROFILES, BASE)
    assert text.splitlines()[:4] == [
        "#!ipxe",
        f"echo provision: installing profile desktop-amd64 on {MAC}",
        f"kernel {BASE}/boot/live/vmlinuz initrd=initrd.img console=tty0 console=ttyS0,115200"
        f" provision.server={BASE} provision.profile=desktop-amd64 provision.host={MAC}"
        " provision.token=tok-en_1 provision.boot=pxe || goto failed",
        f"initrd --name initrd.img {BASE}/boot/live/initrd.img || goto failed",
    ]


@pytest.mark.parametrize(
    ("kw", "expect", "absent"),
    [
        pytest.param(
            {"profile": "desktop-amd64", "boot_local": True, "hostname": "ws1"},
            ["echo provision: ws1 (52:54:00:12:34:56) is installed; booting from local disk",
             "iseq ${platform} efi && goto exit ||", "sanboot --no-describe --drive 0x80 ||",
             "exit"],
            ["kernel "],
            id="installed-goes-local",
        ),
        pytest.param(
            {"profile": ""},
            ["menu provision: choose a profile for 52:54:00:12:34:56", "item p0 desktop-amd64",
             "item p1 server-amd64", f"item --gap -- {BASE}/picker?mac=52%3A54%3A00%3A12%3A34%3A56",
             ":p1", f"chain --autofree {BASE}/boot/{MAC}.ipxe?profile=server-amd64",
             "choose --default retry --timeout 60000 target || goto retry"],
            ["kernel "],
            id="no-profile-menu",
        ),
        pytest.param(
            {"profile": "gone"},
            ["item --gap -- profile 'gone' no longer exists", "item p0 desktop-amd64"],
            ["kernel "],
            id="deleted-profile-menu",
        ),
    ],
)  # fmt: skip
def test_script_for(kw: dict[str, object], expect: list[str], absent: list[str]) -> None:
    text = ipxe.script_for(host(**kw), PROFILES, BASE)
    lines = text.splitlines()
    assert lines[0] == "#!ipxe"
    for line in expect:
        assert line in lines, f"{line!r} missing:\n{text}"
    for fragment in absent:
        assert fragment not in text


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda: ipxe.chain_script("ftp://x"), "base_url", id="scheme"),
        pytest.param(lambda: ipxe.chain_script("http://x/${evil}"), "base_url", id="expansion"),
        pytest.param(lambda: ipxe.chain_script("http://x\nshell"), "base_url", id="newline"),
        pytest.param(
            lambda: ipxe.install_script(ipxe.InstallBoot(BASE, MAC, "a b", "t")),
            "profile",
            id="profile-space",
        ),
        pytest.param(
            lambda: ipxe.install_script(ipxe.InstallBoot(BASE, "52-54", "p", "t")),
            "mac",
            id="bad-mac",
        ),
        pytest.param(
            lambda: ipxe.install_script(ipxe.InstallBoot(BASE, MAC, "p", "t", "a\nb")),
            "kernel_args",
            id="args-newline",
        ),
    ],
)
def test_refuses_unsafe(call: object, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: "):
        call()  # type: ignore[operator]


def test_discover_script() -> None:
    """A host without a profile, when the server has a live environment: the live
    environment boots without provision.profile= (it reports its hardware and waits)."""
    text = ipxe.script_for(host(), PROFILES, BASE, discover=True)
    kernel = next(ln for ln in text.splitlines() if ln.startswith("kernel "))
    assert kernel == (
        f"kernel {BASE}/boot/live/vmlinuz initrd=initrd.img console=tty0 console=ttyS0,115200 "
        f"provision.server={BASE} provision.host={MAC} provision.token=tok-en_1 || goto failed"
    )
    assert f"{BASE}/picker?mac=52%3A54%3A00%3A12%3A34%3A56" in text
    assert "menu " not in text
    # a host with a profile installs; an installed one boots locally: discover changes neither
    assert "provision.profile=desktop-amd64" in ipxe.script_for(
        host(profile="desktop-amd64"), PROFILES, BASE, discover=True
    )
    local = ipxe.script_for(host(boot_local=True), PROFILES, BASE, discover=True)
    assert "kernel " not in local
    with pytest.raises(ConfigError, match="token"):
        ipxe.discover_script(BASE, MAC, "tok en")
