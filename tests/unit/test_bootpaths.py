"""Boot paths: reading the firmware's record (captured OVMF variables), the boot events the
server records, the HTTP boot routes, and the per-host GRUB configs the TFTP server renders."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from provision.errors import ConfigError
from provision.hosts import BootInfo, BootPath, EventKind, Host, HostState, parse_boot_message
from provision.install import bootinfo
from provision.pxe import grubnet
from provision.pxe.ipxe import menu_script
from provision.pxe.tftp import Fetch, Outcome
from provision.server import bootpaths, tftpboot
from provision.server.app import create_app
from provision.server.routes.httpboot import parse_leases
from provision.server.settings import ServerSettings
from provision.server.store import Store
from tests.conftest import PROFILES

BASE = "http://192.0.2.1:8080"
MAC = "52:54:00:f1:8e:01"
ATTRS = bytes.fromhex("06000000")
# Captured with the marker system (tests/vm/test_firmware_boot.py) under OVMF 2022.11 (DVD, USB
# stick, PXEv4, HTTPv4 — its URI node is empty: the URL came from DHCP):
# BootCurrent and the Boot#### it named, efivarfs contents (4 attribute bytes first).
BOOT_CURRENT = "060000000100"
OVMF_DVD = (
    "0700000001000000200055004500460049002000510045004d00550020004400560044002d0052004f004d0020"
    "0051004d00300030003000310031002000000002010c00d041030a0000000001010600021f03120a000500ffff0"
    "0007fff04004eac0881119f594d850ee21a522c59b2"
)
OVMF_USB = (
    "07000000010000001c0055004500460049002000510045004d0055002000510045004d00550020005500530042"
    "002000480041005200440044005200490056004500200031002d0030003000300030003a00300030003a003000"
    "31002e0030002d003100000002010c00d041030a000000000101060000010305060000007fff04004eac088111"
    "9f594d850ee21a522c59b2"
)

OVMF_PXE = (
    "070000000100000056005500450046004900200050005800450076003400200028004d00410043003a0035003200"
    "35003400300030004600310038004500300031002900000002010c00d041030a00000000010106000002030b2500"
    "525400f18e01000000000000000000000000000000000000000000000000000001030c1b00000000000000000000"
    "00000000000000000000000000007fff04004eac0881119f594d850ee21a522c59b2"
)
OVMF_HTTP = (
    "07000000010000005a0055004500460049002000480054005400500076003400200028004d00410043003a003500"
    "320035003400300030004600310038004500300033002900000002010c00d041030a00000000010106000002030b"
    "2500525400f18e03000000000000000000000000000000000000000000000000000001030c1b0000000000000000"
    "00000000000000000000000000000000031804007fff04004eac0881119f594d850ee21a522c59b2"
)


def load_option(description: str, *nodes: bytes) -> bytes:
    """An efivarfs Boot#### file: attributes, then an EFI_LOAD_OPTION."""
    path = b"".join(nodes) + bytes([0x7F, 0xFF, 4, 0])
    text = description.encode("utf-16-le") + b"\0\0"
    return ATTRS + struct.pack("<IH", 1, len(path)) + text + path


def node(node_type: int, subtype: int, data: bytes = b"") -> bytes:
    return struct.pack("<BBH", node_type, subtype, 4 + len(data)) + data


PCI = node(1, 1, b"\x00\x02")
MAC_NODE = node(3, 11, bytes(33))
IPV4 = node(3, 12, bytes(23))
URI = node(3, 24, b"http://192.0.2.1:8080/boot/http/ipxe.efi")


@pytest.mark.parametrize(
    ("option", "path", "detail"),
    [
        pytest.param(bytes.fromhex(OVMF_DVD), BootPath.ISO, "UEFI QEMU DVD-ROM QM00011", id="dvd"),
        pytest.param(
            bytes.fromhex(OVMF_USB), BootPath.USB, "UEFI QEMU QEMU USB HARDDRIVE", id="usb"
        ),
        pytest.param(bytes.fromhex(OVMF_HTTP), BootPath.HTTP, "UEFI HTTPv4", id="http"),
        pytest.param(bytes.fromhex(OVMF_PXE), BootPath.PXE, "UEFI PXEv4", id="pxe"),
        pytest.param(
            load_option("Boot by URL", PCI, MAC_NODE, IPV4, URI),
            BootPath.HTTP, "Boot by URL", id="http-uri-node",
        ),
        pytest.param(
            load_option("NIC", PCI, MAC_NODE, IPV4), BootPath.PXE, "NIC", id="pxe-ip-node"
        ),
        pytest.param(
            load_option("Gentoo", PCI, node(4, 1, bytes(38)), node(4, 4, b"\\x.efi")),
            BootPath.DISK, "Gentoo", id="disk",
        ),
    ],
)  # fmt: skip
def test_boot_path_from_the_firmware(option: bytes, path: BootPath, detail: str) -> None:
    secure = ATTRS + b"\x01"
    info = bootinfo.from_uefi(bytes.fromhex(BOOT_CURRENT), option, secure)
    assert (info.path, info.firmware, info.secure_boot) == (path, "uefi", True)
    assert info.detail.startswith(detail)


def test_boot_current_names_the_option() -> None:
    assert bootinfo.boot_current(bytes.fromhex(BOOT_CURRENT)) == "Boot0001"
    assert bootinfo.boot_current(ATTRS + b"\x0a\x00") == "Boot000A"
    assert bootinfo.secure_boot_from(ATTRS + b"\x00") is False
    assert bootinfo.secure_boot_from(None) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x01\x00", id="short"),
        pytest.param(ATTRS + struct.pack("<IH", 1, 4) + b"A\0B\0", id="unterminated"),
        pytest.param(ATTRS + struct.pack("<IH", 1, 40) + b"\0\0" + bytes(4), id="path-past-end"),
        pytest.param(load_option("x", b"\x01\x01\x02\x00"), id="node-too-short"),
        pytest.param(load_option("x", b"\x01\x01\x40\x00"), id="node-past-end"),
    ],
)
def test_damaged_variables_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        bootinfo.from_uefi(bytes.fromhex(BOOT_CURRENT), data, None)


def test_detect_reads_efivarfs(tmp_path: Path) -> None:
    efi, efivars = tmp_path / "efi", tmp_path / "efivars"
    efi.mkdir()
    efivars.mkdir()
    g = bootinfo.EFI_GLOBAL
    (efivars / f"BootCurrent-{g}").write_bytes(bytes.fromhex(BOOT_CURRENT))
    (efivars / f"Boot0001-{g}").write_bytes(bytes.fromhex(OVMF_USB))
    (efivars / f"SecureBoot-{g}").write_bytes(ATTRS + b"\x01")
    info = bootinfo.detect("iso", efivars, efi)
    assert (info.path, info.secure_boot) == (BootPath.USB, True)
    (efivars / f"Boot0001-{g}").write_bytes(b"\0")
    assert bootinfo.detect("", efivars, efi).path is BootPath.UNKNOWN  # never raises
    (efivars / f"BootCurrent-{g}").unlink()
    assert "no BootCurrent" in bootinfo.detect("", efivars, efi).detail


def test_bios_takes_the_menus_word() -> None:
    assert bootinfo.boot_hint({"boot": "pxe", "config": "/x"}) == "pxe"
    assert bootinfo.boot_hint({"config": "/provision/config.toml"}) == "iso"
    assert bootinfo.from_cmdline("iso", cd_with_medium=True).path is BootPath.ISO
    assert bootinfo.from_cmdline("iso", cd_with_medium=False).path is BootPath.USB
    assert bootinfo.from_cmdline("pxe", cd_with_medium=True) == BootInfo(BootPath.PXE, "bios")
    assert bootinfo.from_cmdline("junk", cd_with_medium=False).path is BootPath.UNKNOWN


@pytest.mark.parametrize(
    "info",
    [
        BootInfo(BootPath.HTTP, "uefi", True, "UEFI HTTPv4 (MAC:525400F18E01)"),
        BootInfo(BootPath.PXE, "bios", None),
        BootInfo(BootPath.UNKNOWN),
    ],
)
def test_boot_message_round_trip(info: BootInfo) -> None:
    assert parse_boot_message(info.path.value, info.message()) == info


def test_boot_message_refuses_junk() -> None:
    for step, message in (("pxe", "hello"), ("floppy", "firmware=uefi secure_boot=on"),
                          ("pxe", "firmware=uefi secure_boot=maybe")):  # fmt: skip
        with pytest.raises(ValueError):
            parse_boot_message(step, message)
    with pytest.raises(ValueError):
        BootInfo(BootPath.PXE, detail="a\nb")
    assert (
        BootInfo(BootPath.HTTP, "uefi", False).summary() == "UEFI HTTP boot, UEFI, Secure Boot off"
    )


# --- the server's side ---------------------------------------------------------------------


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data: Path) -> Iterator[Store]:
    s = Store.in_data_dir(data)
    yield s
    s.close()


@pytest.fixture
def client(data: Path) -> FlaskClient:
    app = create_app(ServerSettings(data, PROFILES, secret_key="s" * 32, base_url=BASE))
    return app.test_client()


def test_sightings_expire_and_stay_bounded() -> None:
    seen = bootpaths.Sightings(window=10, limit=2)
    info = BootInfo(BootPath.HTTP, "uefi")
    seen.saw("192.0.2.5", info, now=100)
    assert seen.recent("192.0.2.5", now=105) == info
    assert seen.recent("192.0.2.5", now=111) is None
    seen.saw("192.0.2.6", info, now=200)
    seen.saw("192.0.2.7", info, now=201)
    seen.saw("192.0.2.8", info, now=202)
    assert seen.recent("192.0.2.8", now=203) == info and len(seen._seen) <= 2


def test_record_once_per_boot(store: Store) -> None:
    store.upsert_host(MAC)
    info = BootInfo(BootPath.PXE, "", False, "iPXE")
    now = time.time()
    assert bootpaths.record(store, MAC, info, now=now)
    assert not bootpaths.record(store, MAC, info, now=now + 60)  # the menu checking again
    assert bootpaths.record(store, MAC, info, now=now + bootpaths.REPEAT + 1)  # a new boot
    other = BootInfo(BootPath.HTTP, "uefi", False)
    assert bootpaths.record(store, MAC, other, now=now + 61)
    found = bootpaths.last_boot(store.events(MAC))
    assert found is not None and found[0] == other


def test_ipxe_request_after_an_http_boot_download(client: FlaskClient, data: Path) -> None:
    (data / "tftp").mkdir(parents=True)
    (data / "tftp" / "ipxe.efi").write_bytes(b"MZ ipxe")
    with client.head("/boot/http/ipxe.efi") as head:  # the firmware asks for the size first
        assert head.status_code == 200 and head.headers["Content-Length"] == "7"
    with client.get("/boot/http/ipxe.efi") as resp:
        assert resp.data == b"MZ ipxe"
    script = client.get(f"/boot/{MAC}.ipxe").text
    assert "echo provision: booted by UEFI HTTP boot, UEFI, Secure Boot off" in script
    store = Store.in_data_dir(data)
    try:
        events = store.events(MAC)
    finally:
        store.close()
    assert [(e.kind, e.step) for e in events] == [(EventKind.BOOT, "http")]


def test_http_boot_known_by_the_lease_when_ipxe_gets_another_address(
    client: FlaskClient, data: Path, store: Store
) -> None:
    (data / "tftp").mkdir(parents=True)
    (data / "tftp" / "ipxe.efi").write_bytes(b"MZ ipxe")
    (data / "dnsmasq.leases").write_text(f"1700000000 {MAC} 192.0.2.60 * *\n")
    store.upsert_host(MAC)
    with client.get("/boot/http/ipxe.efi", environ_base={"REMOTE_ADDR": "192.0.2.60"}):
        pass
    script = client.get(f"/boot/{MAC}.ipxe", environ_base={"REMOTE_ADDR": "192.0.2.61"}).text
    assert "booted by UEFI HTTP boot" in script
    # the download (Secure Boot unknown: the firmware may still refuse iPXE), then iPXE ran
    events = store.events(MAC)
    assert [e.step for e in events] == ["http", "http"]
    found = bootpaths.last_boot(events)
    assert found is not None and found[0].secure_boot is False


def test_plain_pxe_when_nothing_was_downloaded(client: FlaskClient) -> None:
    script = client.get(f"/boot/{MAC}.ipxe").text
    assert "item --gap -- Booted by PXE/TFTP, Secure Boot off" in script


def test_live_iso_refused_without_profile_or_when_installed(
    client: FlaskClient, store: Store
) -> None:
    resp = client.get(f"/boot/http/{MAC}/live.iso")
    assert resp.status_code == 404 and "has no profile" in resp.text
    assert store.host(MAC).state is HostState.NEW  # registered: the picker lists it
    store.upsert_host(MAC, profile="desktop-amd64")
    store.set_state(MAC, HostState.INSTALLED)
    resp = client.get(f"/boot/http/{MAC}/live.iso")
    assert resp.status_code == 404 and "is installed" in resp.text  # firmware: next entry
    found = bootpaths.last_boot(store.events(MAC))
    assert found is not None and found[0].path is BootPath.HTTP


def test_live_iso_by_address_needs_a_lease(client: FlaskClient, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    resp = client.get("/boot/http/live.iso", environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert resp.status_code == 404 and "no DHCP lease for 192.0.2.77" in resp.text


def test_unused_live_isos_are_pruned(tmp_path: Path) -> None:
    from provision.server.routes.httpboot import CACHE_TTL, prune

    old, fresh, keep = (tmp_path / f"{n}.iso" for n in ("old", "fresh", "keep"))
    for path in (old, fresh, keep):
        path.write_bytes(b"iso")
    now = time.time()
    os.utime(old, (now - CACHE_TTL - 5, now - CACHE_TTL - 5))
    os.utime(keep, (now - CACHE_TTL - 5, now - CACHE_TTL - 5))
    prune(tmp_path, keep=keep, now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.iso", "keep.iso"]


def test_parse_leases() -> None:
    text = (
        "1700000000 52:54:00:f1:8e:01 192.0.2.50 * 01:52:54:00:f1:8e:01\n"
        "junk\n1700000000 not-a-mac 192.0.2.51 * *\n"
    )
    assert parse_leases(text) == {"192.0.2.50": "52:54:00:f1:8e:01"}


def test_secure_boot_files_route(client: FlaskClient, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    (shim_dir / "shimx64.efi.signed").write_bytes(b"MZ shim")
    monkeypatch.setenv("PROVISION_SECUREBOOT_PATH", str(shim_dir))
    with client.get("/boot/secureboot/shimx64.efi") as resp:
        assert resp.status_code == 200 and resp.data == b"MZ shim"
    assert client.get("/boot/secureboot/db.key").status_code == 404  # never the key


# --- GRUB over TFTP ------------------------------------------------------------------------


def host(**kw: object) -> Host:
    values: dict[str, object] = dict(
        mac=MAC, hostname="", profile="", state=HostState.NEW, boot_local=False, wipe=False,
        token="tok-en_1", ip="", created=0.0, updated=0.0,
    )  # fmt: skip
    values.update(kw)
    return Host(**values)  # type: ignore[arg-type]


def test_grub_configs() -> None:
    install = grubnet.config_for(host(profile="desktop-amd64"), ["desktop-amd64"], BASE)
    assert "  linux /live/vmlinuz initrd=initrd.img console=tty0 console=ttyS0,115200" in install
    assert "provision.token=tok-en_1 provision.boot=pxe" in install
    assert "  initrd /live/initrd.img" in install
    assert "Secure Boot $provision_sb" in install and 'if [ "$lockdown" = "y" ]' in install
    local = grubnet.config_for(host(profile="desktop-amd64", boot_local=True), [], BASE)
    assert local.rstrip().endswith("exit") and "linux" not in local
    menu = grubnet.config_for(host(), ["desktop-amd64", "server-amd64"], BASE)
    assert "configfile $prefix/hosts/${net_default_mac}/server-amd64.cfg" in menu
    assert "Boot from local disk" in menu
    assert "configfile $prefix/hosts/${net_default_mac}.cfg" in grubnet.root_config()
    found = grubnet.config_for(host(), ["desktop-amd64"], BASE, discover=True)
    assert "provision.host=52:54:00:f1:8e:01 provision.token=tok-en_1 provision.boot=pxe" in found
    assert "provision.profile" not in found and "linux /live/vmlinuz" in found


def test_grub_refuses_what_it_would_expand() -> None:
    with pytest.raises(ConfigError, match="cannot go into a GRUB script"):
        grubnet.config_for(host(profile="p"), ["p"], "http://192.0.2.1:8080/x;reboot")
    with pytest.raises(ConfigError):
        grubnet.menu_config(BASE, MAC, ["a;reboot"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(f"grub/hosts/{MAC}.cfg", grubnet.HostRequest(MAC), id="host"),
        pytest.param(
            "grub/hosts/52:54:00:F1:8E:01/server-amd64.cfg",
            grubnet.HostRequest(MAC, "server-amd64"),
            id="choice",
        ),
        pytest.param("grub/hosts/52:54:00:f1:8e:01/../x.cfg", None, id="parent"),
        pytest.param("grub/hosts/not-a-mac.cfg", None, id="not-a-mac"),
        pytest.param("grub/grub.cfg", None, id="other"),
    ],
)
def test_parse_host_path(name: str, expected: grubnet.HostRequest | None) -> None:
    assert grubnet.parse_host_path(name) == expected


def test_tftp_renders_per_host_grub_configs(data: Path, store: Store) -> None:
    settings = ServerSettings(data, PROFILES, secret_key="s" * 32, base_url=BASE)
    render = tftpboot.dynamic(settings)
    menu = render(f"grub/hosts/{MAC}.cfg", "192.0.2.9")
    assert isinstance(menu, bytes) and b"has no profile yet" in menu
    chosen = render(f"grub/hosts/{MAC}/server-amd64.cfg", "192.0.2.9")
    assert isinstance(chosen, bytes) and b"provision.profile=server-amd64" in chosen
    assert store.host(MAC).profile == "server-amd64"
    assert render("live/vmlinuz", "192.0.2.9") is None  # no live environment yet
    (data / "live").mkdir()
    (data / "live" / "vmlinuz").write_bytes(b"k")
    assert render("live/vmlinuz", "192.0.2.9") == data / "live" / "vmlinuz"
    assert render("anything/else", "192.0.2.9") is None
    found = bootpaths.last_boot(store.events(MAC))
    assert found is not None and found[0].path is BootPath.PXE


def test_tftp_downloads_are_sightings() -> None:
    seen = bootpaths.Sightings()
    note = tftpboot.on_fetch(seen)
    note(Fetch(0.0, "192.0.2.9:2070", "undionly.kpxe", Outcome.SENT, 10, 10))
    note(Fetch(0.0, "192.0.2.10:2070", "boot.ipxe", Outcome.SENT, 10, 10))
    note(Fetch(0.0, "192.0.2.11:2070", "shimx64.efi", Outcome.INCOMPLETE, 10, 3))
    found = seen.recent("192.0.2.9")
    assert found is not None and (found.path, found.firmware) == (BootPath.PXE, "bios")
    assert seen.recent("192.0.2.10") is None and seen.recent("192.0.2.11") is None


def test_ipxe_menu_says_how_it_booted() -> None:
    text = menu_script(BASE, MAC, ["p"], booted="UEFI HTTP boot, UEFI, Secure Boot off")
    assert "item --gap -- Booted by UEFI HTTP boot, UEFI, Secure Boot off" in text
    with pytest.raises(ConfigError):
        menu_script(BASE, MAC, ["p"], booted="${evil}")
