"""The HTTP boot responder on a real network (a namespace with a bridge and a client peer),
beside a real dnsmasq in proxy mode: both bind UDP 67; HTTP boot clients get our offer and
nothing from dnsmasq, PXE clients get dnsmasq's proxy offer and nothing from us.  Also: every
generated dnsmasq config variant passes `dnsmasq --test`."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.pxe import dnsmasq
from provision.pxe.httpboot import parse_options
from provision.run import run
from tests.vm.netns import SERVER_IP, Lab

pytestmark = pytest.mark.integration
BASE = f"http://{SERVER_IP}:8080"

CLIENT = r"""
import socket, struct, sys, time
vendor, arch = sys.argv[1].encode(), int(sys.argv[2])
opts = bytes([53, 1, 1]) + bytes([60, len(vendor)]) + vendor
opts += bytes([93, 2]) + struct.pack("!H", arch)
opts += bytes([97, 17, 0]) + bytes(range(16)) + bytes([55, 4, 1, 3, 60, 67, 255])
hdr = bytearray(236); hdr[0:4] = bytes([1, 1, 6, 0]); hdr[4:8] = b"\x12\x34\x56\x78"
hdr[10:12] = b"\x80\x00"; hdr[28:34] = bytes.fromhex("525400aabbcc")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", 68))
s.sendto(bytes(hdr) + b"\x63\x82\x53\x63" + opts, ("255.255.255.255", 67))
s.settimeout(0.5); end = time.time() + 4
while time.time() < end:
    try:
        data = s.recv(2000)
    except socket.timeout:
        continue
    if data[0] == 2 and data[4:8] == b"\x12\x34\x56\x78":
        print(data.hex(), flush=True)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, str]]:
    work = tmp_path_factory.mktemp("httpboot")
    with Lab.create(work, prefix="hb") as made:
        peer = made.add_peer("77")
        cfg = dnsmasq.DhcpConfig(dnsmasq.Mode.PROXY, "br0", SERVER_IP, BASE, "192.0.2.0/24")
        data = work / "data"
        data.mkdir()
        conf = dnsmasq.write_config(data, cfg)
        made.start("dnsmasq", dnsmasq.dnsmasq_argv(conf), ready="started, version")
        made.start(
            "responder",
            [sys.executable, "-m", "provision", "--data-dir", str(data), "httpboot"],
            ready="answering HTTP boot clients",
        )
        yield made, peer


def client(lab: Lab, peer: str, vendor: str, arch: int) -> list[dict[int, bytes]]:
    """Broadcast one DISCOVER from the peer namespace; the options of every offer to it."""
    out = run(lab.argv([sys.executable, "-c", CLIENT, vendor, str(arch)], peer), timeout=30)
    return [parse_options(bytes.fromhex(line)) for line in out.stdout.split()]


def test_http_boot_client_gets_our_offer_only(lab: tuple[Lab, str]) -> None:
    got = client(*lab, "HTTPClient:Arch:00016:UNDI:003000", 16)
    assert len(got) == 1, got  # one answer: ours (dnsmasq stays silent for HTTPClient)
    assert got[0][60] == b"HTTPClient"
    assert got[0][67] == f"{BASE}/boot/http/ipxe.efi".encode()
    assert got[0][54] == socket.inet_aton(SERVER_IP)


def test_pxe_client_gets_dnsmasq_only(lab: tuple[Lab, str]) -> None:
    got = client(*lab, "PXEClient:Arch:00007:UNDI:003000", 7)
    assert len(got) == 1, got
    assert got[0][60] == b"PXEClient"  # dnsmasq's proxy offer
    assert 67 not in got[0] or b"http" not in got[0][67]


def test_arm64_http_client_gets_nothing(lab: tuple[Lab, str]) -> None:
    assert client(*lab, "HTTPClient:Arch:00019:UNDI:003000", 19) == []


VARIANTS = [
    pytest.param(mode, http_boot, bios, uefi, id=f"{mode}-{http_boot}-{bios}-{uefi}")
    for mode in dnsmasq.Mode
    for http_boot in dnsmasq.HttpBoot
    for bios, uefi in [
        ("undionly.kpxe", "ipxe.efi"),
        ("pxelinux.0", "snponly.efi"),
        ("undionly.kpxe", "shimx64.efi"),
    ]
    if not (mode is dnsmasq.Mode.PROXY and uefi == "shimx64.efi")  # refused (tests/unit)
]


@pytest.mark.parametrize(("mode", "http_boot", "bios", "uefi"), VARIANTS)
def test_every_config_variant_parses(
    tmp_path: Path, mode: dnsmasq.Mode, http_boot: dnsmasq.HttpBoot, bios: str, uefi: str
) -> None:
    ranges = {"range_start": "192.0.2.50", "range_end": "192.0.2.60"} if mode == "full" else {}
    cfg = dnsmasq.DhcpConfig(
        mode, "lo", SERVER_IP, BASE, "192.0.2.0/24", bios_loader=bios, uefi_loader=uefi,
        http_boot=http_boot, **ranges,
    )  # fmt: skip
    path = dnsmasq.write_config(tmp_path, cfg)
    dnsmasq.check_config(path)
