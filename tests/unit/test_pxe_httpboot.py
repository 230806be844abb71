"""The HTTP boot proxy responder's packet handling (pure): what it answers, what it refuses."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from provision.pxe.dnsmasq import ResponderSettings
from provision.pxe.httpboot import (
    MAGIC,
    Limiter,
    Refused,
    Responder,
    build_offer,
    offer_for,
    parse_options,
    parse_request,
    reply_address,
)

URL = "http://192.0.2.1:8080/boot/http/ipxe.efi"
MAC = bytes.fromhex("525400123401")
UUID = b"\x00" + bytes(range(16))
FIXTURES = Path(__file__).parent / "fixtures"


def option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def packet(
    *options: bytes,
    op: int = 1,
    htype: int = 1,
    hlen: int = 6,
    giaddr: bytes = bytes(4),
    end: bytes = b"\xff",
    cookie: bytes = MAGIC,
) -> bytes:
    header = bytearray(236)
    header[0:4] = bytes([op, htype, hlen, 0])
    header[4:8] = b"\xde\xad\xbe\xef"
    struct.pack_into("!H", header, 10, 0x8000)
    header[24:28] = giaddr
    header[28:34] = MAC
    return bytes(header) + cookie + b"".join(options) + end


def discover(vendor: bytes = b"HTTPClient:Arch:00016:UNDI:003000", arch: int = 16) -> bytes:
    return packet(
        option(53, b"\x01"),
        option(60, vendor),
        option(93, struct.pack("!H", arch)),
        option(97, UUID),
        option(55, bytes([1, 3, 60, 67])),
    )


def test_offer_to_an_http_boot_discover() -> None:
    req = parse_request(discover())
    assert req.mac == "52:54:00:12:34:01" and req.arches == (16,) and req.http_client
    assert offer_for(req)
    reply = build_offer(req, "192.0.2.1", URL)
    assert reply[0] == 2 and reply[4:8] == b"\xde\xad\xbe\xef" and reply[28:34] == MAC
    assert reply[10:12] == b"\x80\x00"  # the broadcast flag is kept
    assert reply[12:20] == bytes(8)  # ciaddr, yiaddr: a proxy hands out no address
    assert reply[20:24] == bytes([192, 0, 2, 1])  # siaddr
    assert reply[108 : 108 + len(URL)] == URL.encode()
    opts = parse_options(reply)
    assert opts == {
        53: b"\x02",
        54: bytes([192, 0, 2, 1]),
        60: b"HTTPClient",
        67: URL.encode(),
        97: UUID,
    }
    assert reply_address(req) == ("255.255.255.255", 68)


def test_a_relayed_discover_is_answered_to_the_relay() -> None:
    data = packet(
        option(53, b"\x01"),
        option(60, b"HTTPClient"),
        option(93, b"\x00\x10"),
        giaddr=bytes([198, 51, 100, 1]),
    )
    req = parse_request(data)
    assert reply_address(req) == ("198.51.100.1", 67)
    assert parse_request(data).uuid == b""
    assert 97 not in parse_options(build_offer(req, "192.0.2.1", URL))


def test_real_ovmf_discover() -> None:
    """A DHCPDISCOVER OVMF's HTTP boot sent in tests/vm (captured with tcpdump)."""
    data = bytes.fromhex((FIXTURES / "ovmf-httpboot-discover.hex").read_text())
    req = parse_request(data)
    assert req.vendor_class.startswith(b"HTTPClient:Arch:00016")
    assert offer_for(req)


@pytest.mark.parametrize(
    ("data", "answered"),
    [
        pytest.param(discover(), True, id="http-x64"),
        pytest.param(discover(vendor=b"PXEClient:Arch:00007:UNDI:003000"), False, id="pxe"),
        pytest.param(discover(arch=19), False, id="http-arm64"),
        pytest.param(discover(arch=7), False, id="http-with-pxe-arch"),
        pytest.param(
            packet(option(53, b"\x03"), option(60, b"HTTPClient"), option(93, b"\x00\x10")),
            False,
            id="request",
        ),
        pytest.param(packet(option(53, b"\x01"), option(60, b"HTTPClient")), False, id="no-arch"),
    ],
)
def test_who_is_answered(data: bytes, answered: bool) -> None:
    assert offer_for(parse_request(data)) is answered


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "not a DHCP packet size", id="empty"),
        pytest.param(discover()[:239], "not a DHCP packet size", id="truncated-header"),
        pytest.param(discover() + bytes(2000), "not a DHCP packet size", id="oversized"),
        pytest.param(packet(option(53, b"\x01"), op=2), "not a BOOTREQUEST", id="reply"),
        pytest.param(packet(option(53, b"\x01"), hlen=16), "not Ethernet", id="hlen"),
        pytest.param(packet(option(53, b"\x01"), htype=6), "not Ethernet", id="htype"),
        pytest.param(packet(option(53, b"\x01"), cookie=b"BOOT"), "magic cookie", id="cookie"),
        pytest.param(packet(option(53, b"\x01"), end=b""), "no END", id="no-end"),
        pytest.param(packet(b"\x3c\x20HTTPClient", end=b""), "runs past", id="overrun"),
        pytest.param(packet(b"\x3c", end=b""), "no length byte", id="no-length"),
        pytest.param(
            packet(option(53, b"\x01"), option(53, b"\x01")), "given twice", id="duplicate"
        ),
        pytest.param(packet(option(53, b"\x01"), option(52, b"\x03")), "overload", id="overload"),
        pytest.param(packet(option(60, b"HTTPClient")), "message type", id="no-type"),
        pytest.param(packet(option(53, b"\x63")), "message type", id="bad-type"),
        pytest.param(packet(option(53, b"\x01"), option(93, b"\x00")), "odd length", id="arch-odd"),
        pytest.param(
            packet(option(53, b"\x01"), option(97, b"\x01" + bytes(16))), "option 97", id="uuid"
        ),
    ],
)
def test_hostile_packets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        parse_request(data)


def test_pad_options_are_skipped() -> None:
    data = packet(b"\x00\x00", option(53, b"\x01"), b"\x00", option(60, b"HTTPClient"))
    assert parse_request(data).vendor_class == b"HTTPClient"


def test_limiter() -> None:
    limit = Limiter(per_client=1.0, total=3)
    assert limit.allow("a", 0.0)
    assert not limit.allow("a", 0.5)  # the same client again within a second
    assert limit.allow("a", 1.5)
    assert limit.allow("b", 1.6)
    assert limit.allow("c", 1.7)
    assert not limit.allow("d", 1.8)  # three answers in the last second already
    assert limit.allow("d", 2.7)


def test_responder_handles_without_a_socket() -> None:
    responder = Responder(ResponderSettings("br0", "192.0.2.1", URL))
    answer = responder.handle(discover(), 10.0)
    assert answer is not None and answer[1] == ("255.255.255.255", 68)
    assert responder.handle(discover(), 10.1) is None  # rate limit per client
    assert responder.handle(b"junk", 20.0) is None
    assert responder.refused == 1


def test_url_too_long_for_an_option() -> None:
    req = parse_request(discover())
    with pytest.raises(ValueError, match="do not fit"):
        build_offer(req, "192.0.2.1", "http://x/" + "a" * 300)
