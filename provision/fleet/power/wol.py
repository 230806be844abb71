"""Wake-on-LAN: the magic packet (pure) and sending it as a UDP broadcast."""

from __future__ import annotations

import socket

from provision.errors import ProvisionError
from provision.names import normalize_mac


def magic_packet(mac: str) -> bytes:
    """Six 0xff bytes, then the MAC sixteen times (102 bytes)."""
    raw = bytes.fromhex(normalize_mac(mac).replace(":", ""))
    return b"\xff" * 6 + raw * 16


def send_magic_packet(
    mac: str, *, broadcast: str = "255.255.255.255", port: int = 9, interface: str = ""
) -> None:
    """Broadcast the magic packet; `interface` pins the sending device (SO_BINDTODEVICE), else
    the routing table decides (255.255.255.255 follows the default route)."""
    packet = magic_packet(mac)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            if interface:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            sock.sendto(packet, (broadcast, port))
        except OSError as exc:
            via = f" on {interface}" if interface else ""
            raise ProvisionError(
                f"Wake-on-LAN to {broadcast}:{port}{via} failed: {exc.strerror or exc}"
            ) from exc
