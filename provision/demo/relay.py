"""One guest TCP connection relayed to the server on the host's loopback (QEMU user networking).

`-netdev user,restrict=on,guestfwd=tcp:10.0.2.100:8080-cmd:python3 -m provision.demo.relay
127.0.0.1 8080`: the guest can reach nothing but this forward; QEMU runs this module once per
connection with the guest's connection on stdin/stdout.

    python -m provision.demo.relay HOST PORT
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
from collections.abc import Sequence

BLOCK = 1 << 16


def pump(a: int, b: socket.socket, timeout: float = 600) -> None:
    """Copy bytes both ways between the file descriptor a (the guest) and the socket b until
    both sides are done; half-closes are passed on."""
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, "guest")
    sel.register(b, selectors.EVENT_READ, "server")
    open_sides = 2
    while open_sides:
        events = sel.select(timeout)
        if not events:
            return
        for key, _ in events:
            if key.data == "guest":
                data = os.read(a, BLOCK)
                if data:
                    b.sendall(data)
                else:
                    sel.unregister(a)
                    b.shutdown(socket.SHUT_WR)
                    open_sides -= 1
            else:
                data = b.recv(BLOCK)
                if data:
                    _write_all(1 if a == 0 else a, data)
                else:
                    sel.unregister(b)
                    open_sides -= 1
                    if open_sides:  # the server is done: so is the answer to the guest
                        return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m provision.demo.relay HOST PORT", file=sys.stderr)
        return 2
    try:
        server = socket.create_connection((args[0], int(args[1])), timeout=30)
    except OSError as exc:
        print(f"provision relay: {args[0]}:{args[1]}: {exc.strerror}", file=sys.stderr)
        return 1
    server.settimeout(None)
    with server:
        pump(0, server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
