"""What the TFTP server renders per request (its `dynamic` hook) and learns from downloads.

- grub/hosts/<MAC>.cfg (and grub/hosts/<MAC>/<PROFILE>.cfg, a choice from the menu): the
  per-host config of Debian's signed network GRUB (provision.pxe.grubnet), from the store,
  as /boot/<MAC>.ipxe is for iPXE; the boot is recorded as PXE (provision.server.bootpaths);
- live/vmlinuz, live/initrd.img: DATA_DIR/live's files (GRUB fetches them by TFTP: it has
  no HTTP);
- a loader sent (undionly.kpxe, ipxe.efi, shimx64.efi, pxelinux.0...): remembered for the
  client's address, so its iPXE script request is known to come from a PXE boot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from provision.hosts import BootInfo, BootPath
from provision.profiles import ProfileSet
from provision.pxe import grubnet
from provision.pxe.tftp import Dynamic, Fetch, Outcome
from provision.server import bootpaths
from provision.server.settings import ServerSettings
from provision.server.store import Store
from provision.server.urls import client_base_url

log = logging.getLogger("provision.tftp")
BIOS_LOADERS = frozenset({"undionly.kpxe", "pxelinux.0"})


def dynamic(settings: ServerSettings) -> Dynamic:
    def render(relative: str, client_ip: str) -> bytes | Path | None:
        if relative in grubnet.LIVE_FILES:
            path = settings.data_dir / "live" / grubnet.LIVE_FILES[relative]
            return path if path.is_file() else None
        request = grubnet.parse_host_path(relative)
        if request is None:
            return None
        base = client_base_url(settings, scheme="http", host="", remote_addr=client_ip)
        if base is None:
            log.warning("tftp: no server URL for %s (set base_url or [[networks]])", client_ip)
            return None
        profiles = ProfileSet(settings.profiles_dir).names()
        with closing(Store.in_data_dir(settings.data_dir)) as store:
            host = store.find_host(request.mac) or store.upsert_host(request.mac)
            chosen = request.profile
            if chosen and chosen in profiles and not host.profile and not host.boot_local:
                host = store.upsert_host(request.mac, profile=chosen)
                log.info("tftp: host %s chose profile %s at its console", request.mac, chosen)
            bootpaths.record(
                store, request.mac, BootInfo(BootPath.PXE, "uefi", None, "shim + GRUB over TFTP")
            )
        live = settings.data_dir / "live"
        discover = all((live / n).is_file() for n in grubnet.LIVE_FILES.values())
        return grubnet.config_for(host, profiles, base, discover=discover).encode()

    return render


def on_fetch(sightings: bootpaths.Sightings) -> Callable[[Fetch], None]:
    def seen(fetch: Fetch) -> None:
        name = fetch.path.rsplit("/", 1)[-1]
        if fetch.outcome is not Outcome.SENT or name not in bootpaths.PXE_LOADERS:
            return
        firmware = "bios" if name in BIOS_LOADERS else "uefi"
        address = fetch.client.rsplit(":", 1)[0]
        sightings.saw(address, BootInfo(BootPath.PXE, firmware, None, f"TFTP {name}"))

    return seen
