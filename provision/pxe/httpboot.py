"""The proxy-mode answer to UEFI HTTP boot clients, which dnsmasq does not give.

In proxy mode dnsmasq only answers clients whose vendor class starts with "PXEClient"; an HTTP
boot client ("HTTPClient:Arch:00016:...") gets nothing from it, and the office DHCP server's
offer alone carries no boot URL.  This responder answers exactly those clients: to a
DHCPDISCOVER with vendor class HTTPClient and an allowed client architecture it sends a
proxy offer (no address: yiaddr 0.0.0.0) with option 60 "HTTPClient", option 54 and siaddr
this server, option 67 (and the BOOTP file field, when it fits) the boot URL, and option 97
echoed.  The firmware takes its address from the office server and the URL from us.

Packet parsing and building are pure (`parse_request`, `offer_for`, `build_offer`); every
packet is hostile until `parse_request` accepted it (lengths, the magic cookie, well-formed
options, no option overload, one value per option).  `Responder` is the thin socket server:
UDP port 67 on one interface with SO_REUSEPORT beside dnsmasq (which also sets it), replies
broadcast to port 68 (or to a relay agent), rate-limited per client and in total.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provision.errors import ProvisionError
from provision.pxe.dnsmasq import ResponderSettings

log = logging.getLogger("provision.httpboot")

BOOTREQUEST, BOOTREPLY = 1, 2
MAGIC = b"\x63\x82\x53\x63"
HEADER = 236  # the BOOTP header, before the magic cookie
MIN_PACKET = HEADER + 4 + 1  # header, cookie, at least the END option
MAX_PACKET = 1500
DISCOVER, OFFER = 1, 2
HTTP_CLIENT = b"HTTPClient"
X64_HTTP = 16  # client architecture (RFC 4578, IANA): x86-64 UEFI HTTP boot
OPT_PAD, OPT_END = 0, 255
OPT_MESSAGE_TYPE, OPT_SERVER_ID, OPT_VENDOR_CLASS = 53, 54, 60
OPT_OVERLOAD, OPT_BOOTFILE, OPT_CLIENT_ARCH, OPT_UUID = 52, 67, 93, 97


class Refused(ProvisionError):
    """A packet this responder does not answer (malformed, or not an HTTP boot DISCOVER)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Request:
    """The parts of an accepted DHCP request the answer needs."""

    xid: bytes
    flags: int
    giaddr: bytes
    chaddr: bytes  # 16 bytes as sent
    mac: str  # aa:bb:cc:dd:ee:ff
    message_type: int
    vendor_class: bytes
    arches: tuple[int, ...]
    uuid: bytes  # option 97 as sent (17 bytes), or b""

    @property
    def http_client(self) -> bool:
        return self.vendor_class.startswith(HTTP_CLIENT)


def parse_options(data: bytes) -> dict[int, bytes]:
    """The options after the magic cookie; Refused when they are not well formed."""
    options: dict[int, bytes] = {}
    i = HEADER + 4
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            return options
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            raise Refused(f"option {code} has no length byte")
        length = data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if len(value) != length:
            raise Refused(f"option {code} runs past the end of the packet")
        if code in options:
            raise Refused(f"option {code} given twice")
        options[code] = value
        i += 2 + length
    raise Refused("no END option")


def parse_request(data: bytes) -> Request:
    """A DHCP request from the wire, or Refused naming what is wrong with it."""
    if not MIN_PACKET <= len(data) <= MAX_PACKET:
        raise Refused(f"{len(data)} bytes is not a DHCP packet size")
    op, htype, hlen, hops = data[0], data[1], data[2], data[3]
    if op != BOOTREQUEST:
        raise Refused(f"op {op} is not a BOOTREQUEST")
    if htype != 1 or hlen != 6:
        raise Refused(f"hardware type {htype}/length {hlen} is not Ethernet")
    if hops > 16:
        raise Refused(f"{hops} relay hops")
    if data[HEADER : HEADER + 4] != MAGIC:
        raise Refused("no DHCP magic cookie")
    options = parse_options(data)
    if OPT_OVERLOAD in options:
        raise Refused("option overload (options in the file/sname fields) is not accepted")
    mtype = options.get(OPT_MESSAGE_TYPE, b"")
    if len(mtype) != 1 or not 1 <= mtype[0] <= 18:
        raise Refused("no valid DHCP message type (option 53)")
    arch_raw = options.get(OPT_CLIENT_ARCH, b"")
    if len(arch_raw) % 2:
        raise Refused("client architecture (option 93) has an odd length")
    arches = struct.unpack(f"!{len(arch_raw) // 2}H", arch_raw)
    uuid = options.get(OPT_UUID, b"")
    if uuid and (len(uuid) != 17 or uuid[0] != 0):
        raise Refused("client machine identifier (option 97) is not type 0 + 16 bytes")
    chaddr = data[28:44]
    return Request(
        xid=data[4:8],
        flags=struct.unpack_from("!H", data, 10)[0],
        giaddr=data[24:28],
        chaddr=chaddr,
        mac=":".join(f"{b:02x}" for b in chaddr[:6]),
        message_type=mtype[0],
        vendor_class=options.get(OPT_VENDOR_CLASS, b""),
        arches=arches,
        uuid=uuid,
    )


def offer_for(req: Request, arches: tuple[int, ...] = (X64_HTTP,)) -> bool:
    """Answer this request? Only a DISCOVER from an HTTP boot client of an allowed
    architecture (an arm64 client must not get an x86-64 binary)."""
    return (
        req.message_type == DISCOVER
        and req.http_client
        and bool(req.arches)
        and req.arches[0] in arches
    )


def _option(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ValueError(f"option {code}: {len(value)} bytes do not fit")
    return bytes([code, len(value)]) + value


def build_offer(req: Request, server_ip: str, url: str) -> bytes:
    """The proxy offer for req (pure): no address, the URL, HTTPClient echoed."""
    server = ipaddress.IPv4Address(server_ip).packed
    raw_url = url.encode("ascii")
    header = bytearray(HEADER)
    header[0:4] = bytes([BOOTREPLY, 1, 6, 0])
    header[4:8] = req.xid
    struct.pack_into("!H", header, 10, req.flags)
    header[20:24] = server  # siaddr; ciaddr and yiaddr stay 0.0.0.0: a proxy gives no address
    header[24:28] = req.giaddr
    header[28:44] = req.chaddr
    if len(raw_url) < 128:
        header[108 : 108 + len(raw_url)] = raw_url  # the BOOTP file field
    options = [
        _option(OPT_MESSAGE_TYPE, bytes([OFFER])),
        _option(OPT_SERVER_ID, server),
        _option(OPT_VENDOR_CLASS, HTTP_CLIENT),
        _option(OPT_BOOTFILE, raw_url),
    ]
    if req.uuid:
        options.append(_option(OPT_UUID, req.uuid))
    return bytes(header) + MAGIC + b"".join(options) + bytes([OPT_END])


def reply_address(req: Request) -> tuple[str, int]:
    """Broadcast to the client port, or unicast to the relay agent that forwarded it."""
    if req.giaddr != bytes(4):
        return str(ipaddress.IPv4Address(req.giaddr)), 67
    return "255.255.255.255", 68


@dataclass
class Limiter:
    """At most one answer per client per `per_client` seconds and `total` per second."""

    per_client: float = 1.0
    total: int = 50
    _last: dict[str, float] = field(default_factory=dict)
    _window: list[float] = field(default_factory=list)

    def allow(self, client: str, now: float) -> bool:
        self._window = [t for t in self._window if now - t < 1.0]
        if len(self._window) >= self.total:
            return False
        if now - self._last.get(client, -1e9) < self.per_client:
            return False
        if len(self._last) > 10000:
            self._last = {c: t for c, t in self._last.items() if now - t < self.per_client}
        self._last[client] = now
        self._window.append(now)
        return True


Answered = Callable[[Request], None]


class Responder:
    """The socket server: start() runs it in a thread, stop() ends it."""

    def __init__(
        self,
        settings: ResponderSettings,
        *,
        port: int = 67,
        arches: tuple[int, ...] = (X64_HTTP,),
        on_answer: Answered | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.port = port
        self.arches = arches
        self.on_answer = on_answer
        self.limiter = limiter or Limiter()
        self.answered = 0
        self.refused = 0
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # beside dnsmasq
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.settings.interface.encode()
            )
            sock.bind(("0.0.0.0", self.port))
        except OSError as exc:
            sock.close()
            raise ProvisionError(
                f"HTTP boot responder cannot listen on {self.settings.interface} port "
                f"{self.port}: {exc.strerror or exc}"
            ) from exc
        return sock

    def start(self) -> None:
        self._sock = self._open()
        self._thread = threading.Thread(target=self._loop, name="httpboot", daemon=True)
        self._thread.start()
        log.info(
            "httpboot: answering HTTP boot clients on %s with %s",
            self.settings.interface,
            self.settings.url,
        )

    def handle(self, data: bytes, now: float) -> tuple[bytes, tuple[str, int]] | None:
        """The reply to one datagram and where it goes, or None (pure but for the limiter)."""
        try:
            req = parse_request(data)
        except Refused as exc:
            self.refused += 1
            log.debug("httpboot: refused a packet: %s", exc.reason)
            return None
        if not offer_for(req, self.arches) or not self.limiter.allow(req.mac, now):
            return None
        url = self.settings.url_for(req.mac)
        return build_offer(req, self.settings.server_ip, url), reply_address(req)

    def _loop(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            ready, _, _ = select.select([sock], [], [], 0.5)
            if not ready:
                continue
            try:
                data, _peer = sock.recvfrom(MAX_PACKET + 1)
            except OSError:
                continue
            answer = self.handle(data, time.monotonic())
            if answer is None:
                continue
            reply, where = answer
            try:
                sock.sendto(reply, where)
            except OSError as exc:
                log.warning("httpboot: cannot send the offer to %s: %s", where[0], exc)
                continue
            self.answered += 1
            req = parse_request(data)
            log.info("httpboot: offered %s to %s", self.settings.url_for(req.mac), req.mac)
            if self.on_answer is not None:
                self.on_answer(req)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
