"""Which boot path a machine used, as the server sees it, recorded with its install events.

Two sources:
- the installer reports what the firmware says (UEFI BootCurrent + SecureBoot, or the boot
  menu's hint under BIOS) as a `boot` event before `start` (provision.install.bootinfo);
- before that, the server itself sees a network boot: the HTTP boot download of ipxe.efi or of
  the live ISO (UEFI HTTP boot), the TFTP download of a loader (PXE), a GRUB config asked for
  over TFTP (PXE with Secure Boot).  Those downloads are known by the client's address only;
  `Sightings` remembers them for a few minutes, so that the iPXE script request that follows
  from the same address is known to be HTTP boot or PXE.

Boot events are recorded at most once per boot (`record` skips a repeat of the same path
within a few minutes: a menu that checks again every minute is one boot).  `last_boot` reads
the newest one back for the picker, the host page and the boot menus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from provision.hosts import BootInfo, BootPath, Event, EventKind, parse_boot_message
from provision.server.store import Store

WINDOW = 600.0  # seconds a download tells about the next requests from the same address
REPEAT = 300.0  # seconds within which the same boot path is not recorded again
# TFTP names whose download means a PXE boot is under way.
PXE_LOADERS = frozenset(
    {"undionly.kpxe", "ipxe.efi", "snponly.efi", "pxelinux.0", "shimx64.efi", "grubx64.efi"}
)


@dataclass(frozen=True)
class Sighting:
    info: BootInfo
    time: float


class Sightings:
    """Downloads that mark a network boot, by client address (thread-safe, bounded)."""

    def __init__(self, window: float = WINDOW, limit: int = 10000) -> None:
        self.window = window
        self.limit = limit
        self._seen: dict[str, Sighting] = {}
        self._lock = threading.Lock()

    def saw(self, address: str, info: BootInfo, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            if len(self._seen) >= self.limit:
                self._seen = {a: s for a, s in self._seen.items() if now - s.time < self.window}
                if len(self._seen) >= self.limit:
                    self._seen.pop(next(iter(self._seen)))
            self._seen[address] = Sighting(info, now)

    def recent(self, address: str, now: float | None = None) -> BootInfo | None:
        now = time.time() if now is None else now
        with self._lock:
            found = self._seen.get(address)
        if found is None or now - found.time > self.window:
            return None
        return found.info


def network_boot(
    sightings: Sightings, address: str, events: Sequence[Event], now: float | None = None
) -> BootInfo:
    """How a machine asking for its iPXE script booted: what its address downloaded; else
    its own boot event of the last minutes (recorded when the download was matched to its MAC
    by the DHCP lease, e.g. when iPXE got another address); else PXE (a NIC whose ROM is iPXE
    downloads nothing first).  iPXE runs only with Secure Boot off (it is not signed)."""
    now = time.time() if now is None else now
    seen = sightings.recent(address, now)
    if seen is None:
        found = last_boot(events)
        network = (BootPath.HTTP, BootPath.PXE)
        if found is not None and found[0].path in network and now - found[1] < sightings.window:
            seen = found[0]
    if seen is not None:
        return BootInfo(seen.path, seen.firmware, False, seen.detail)
    return BootInfo(BootPath.PXE, "", False, "iPXE")


def boot_of(event: Event) -> BootInfo | None:
    if event.kind is not EventKind.BOOT:
        return None
    try:
        return parse_boot_message(event.step, event.message)
    except ValueError:
        return None


def last_boot(events: Sequence[Event]) -> tuple[BootInfo, float] | None:
    """The newest boot event's BootInfo and time (pure)."""
    for event in reversed(events):
        info = boot_of(event)
        if info is not None:
            return info, event.time
    return None


def record(store: Store, mac: str, info: BootInfo, now: float | None = None) -> bool:
    """Add a boot event unless the newest one says the same and is recent; True if added."""
    now = time.time() if now is None else now
    found = last_boot(store.events(mac))
    if found is not None and found[0] == info and now - found[1] < REPEAT:
        return False
    store.add_event(mac, EventKind.BOOT, step=info.path.value, message=info.message())
    return True
