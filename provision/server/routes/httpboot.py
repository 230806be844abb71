"""UEFI HTTP boot: what the firmware downloads itself (no TFTP), and the Secure Boot files.

GET|HEAD /boot/http/ipxe.efi          iPXE for x86-64 UEFI (DATA_DIR/tftp/ipxe.efi, else the
                                      distribution's); then the usual iPXE chain over HTTP
GET|HEAD /boot/http/live.iso          the Secure Boot live ISO for the machine at this address
                                      (full DHCP mode: its MAC from dnsmasq's lease file)
GET|HEAD /boot/http/<mac>/live.iso    the same for that MAC (proxy mode: the HTTP boot
                                      responder puts the MAC in the URL)
GET      /boot/secureboot/<name>      shimx64.efi, mmx64.efi (the distribution's), grubx64.efi
                                      (the server-signed GRUB of installed systems),
                                      provision-db.der / provision-db.crt (the certificate to
                                      enrol in MOK or the firmware's db)

The firmware sends a HEAD first (for the size) and decides by the Content-Type (or a .iso
suffix) that an ISO goes into a RAM disk and boots like a CD: shim → Debian's signed GRUB →
Debian's signed kernel, so this is the network path that works with Secure Boot on, in full
and in proxy DHCP mode.  A host whose live ISO cannot be given (installed: boot-once; no
profile yet) gets 404: the firmware goes on to its next boot entry (the disk).  Every answer
is recorded as the host's boot path (provision.server.bootpaths).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from contextlib import closing
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_file

from provision.errors import ConfigError, ProvisionError
from provision.hosts import BootInfo, BootPath, Host
from provision.names import Mac
from provision.pxe.bootloaders import IPXE_UEFI, find
from provision.pxe.dnsmasq import LEASE_NAME
from provision.server import bootpaths, sbfiles, services
from provision.server.app import request_base_url, settings_of
from provision.server.store import Store
from provision.server.urls import unknown_address_message

bp = Blueprint("httpboot", __name__)
log = logging.getLogger("provision.httpboot")
CACHE_TTL = 1800.0  # seconds an unused per-host ISO stays in DATA_DIR/cache/http-iso
ISO_TYPE = "application/vnd.efi-iso"  # what edk2's HTTP boot takes for a RAM-disk CD
EFI_TYPE = "application/efi"


def _text(message: str, status: int) -> Response:
    return Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain")


def _address() -> str:
    return request.remote_addr or ""


@bp.get("/boot/http/ipxe.efi")
def ipxe_efi() -> Response:
    settings = settings_of(current_app)
    local = settings.data_dir / "tftp" / "ipxe.efi"
    try:
        path = local if local.is_file() else find(IPXE_UEFI)
    except ConfigError as exc:
        return _text(str(exc), 404)
    booted = BootInfo(BootPath.HTTP, "uefi", None, "ipxe.efi")
    services.sightings().saw(_address(), booted)
    if request.method == "GET":  # full mode: dnsmasq's lease names the machine
        mac = mac_of_address(settings.data_dir, _address(), wait=0)
        store = services.store()
        if mac is not None and store.find_host(Mac(mac)) is not None:
            bootpaths.record(store, mac, booted)
    return send_file(path, mimetype=EFI_TYPE, max_age=0)


def parse_leases(text: str) -> dict[str, str]:
    """dnsmasq's lease file (`expiry mac ip name client-id` per line) → {ip: mac} (pure)."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            try:
                found[fields[2]] = str(Mac(fields[1]))
            except ConfigError:
                continue
    return found


def mac_of_address(data_dir: Path, address: str, wait: float = 2.0) -> str | None:
    """The MAC dnsmasq leased this address to (it may write the file just after its ACK)."""
    deadline = time.monotonic() + wait
    while True:
        path = data_dir / LEASE_NAME
        leases = parse_leases(path.read_text(errors="replace")) if path.is_file() else {}
        if address in leases or time.monotonic() >= deadline:
            return leases.get(address)
        time.sleep(0.2)


@bp.get("/boot/http/live.iso")
def live_iso_by_address() -> Response:
    mac = mac_of_address(settings_of(current_app).data_dir, _address())
    if mac is None:
        return _text(
            f"no DHCP lease for {_address()} in this server's dnsmasq: in proxy DHCP mode the "
            "HTTP boot URL names the MAC (/boot/http/MAC/live.iso)",
            404,
        )
    return _live_iso(Mac(mac))


@bp.get("/boot/http/<mac:mac>/live.iso")
def live_iso(mac: Mac) -> Response:
    return _live_iso(mac)


def _live_iso(mac: Mac) -> Response:
    settings = settings_of(current_app)
    base = request_base_url()
    if base is None:
        return _text(unknown_address_message(request.host), 421)
    profiles = services.profiles().names()
    store = services.store()
    host = store.find_host(mac) or store.upsert_host(mac)
    bootpaths.record(store, mac, BootInfo(BootPath.HTTP, "uefi", None, "live ISO"))
    if host.boot_local:
        return _text(f"{mac} is installed: no live ISO (the firmware boots the next entry)", 404)
    if not host.profile or host.profile not in profiles:
        return _text(f"{mac} has no profile: choose one at {base}/picker?mac={mac}", 404)
    try:
        iso = host_iso(settings.data_dir, settings.profiles_dir, host, base)
    except ProvisionError as exc:
        log.error("httpboot: no live ISO for %s: %s", mac, exc)
        return _text(f"cannot make the live ISO: {exc}", 503)
    log.info("httpboot: live ISO for %s (%s)", mac, host.profile)
    return send_file(iso, mimetype=ISO_TYPE, max_age=0, download_name="live.iso")


def host_iso(data_dir: Path, profiles_dir: Path, host: Host, base: str) -> Path:
    """The host's Secure Boot live ISO, built when its inputs changed (cached by them)."""
    from provision.iso.base import BootloaderDirs, UefiChain
    from provision.iso.build import IsoRequest, build_iso

    live = data_dir / "live"
    h = hashlib.sha256()
    for part in (host.mac, host.profile, host.hostname, host.token, base):
        h.update(part.encode() + b"\0")
    for name in ("vmlinuz", "initrd.img"):
        st = (live / name).stat() if (live / name).is_file() else None
        h.update(f"{name}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}".encode())
    cache = data_dir / "cache" / "http-iso"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{str(host.mac).replace(':', '-')}-{h.hexdigest()[:16]}.iso"
    if out.is_file():
        os.utime(out)  # in use: pruning goes by the last use
        return out
    for old in cache.glob(f"{str(host.mac).replace(':', '-')}-*.iso"):
        old.unlink(missing_ok=True)  # this host's older ISO
    prune(cache, keep=out)
    with closing(Store.in_data_dir(data_dir)) as hosts:
        build_iso(
            IsoRequest(
                data_dir=data_dir,
                profiles_dir=profiles_dir,
                profile=host.profile,
                output=out,
                mac=host.mac,
                hostname=host.hostname or None,
                hosts=hosts,
                server=base,
                bootloaders=BootloaderDirs(uefi=UefiChain.SIGNED),
                timeout_s=1,
            )
        )
    return out


def prune(cache: Path, keep: Path, now: float | None = None) -> None:
    """Drop ISOs nobody downloaded for CACHE_TTL (a whole live environment each: a fleet
    booting this way must not fill the disk); a boot's HEAD and GET come seconds apart."""
    now = time.time() if now is None else now
    for old in cache.glob("*.iso"):
        try:
            if old != keep and now - old.stat().st_mtime > CACHE_TTL:
                old.unlink()
        except FileNotFoundError:
            continue


@bp.get("/boot/secureboot/<name>")
def secureboot_file(name: str) -> Response:
    """The files a Secure Boot install puts on its ESP (public: signed, or a certificate)."""
    if name not in sbfiles.NAMES:
        return _text("not found", 404)
    try:
        path = sbfiles.path_of(settings_of(current_app).data_dir, name)
    except ConfigError as exc:
        return _text(str(exc), 404)
    mimetype = "application/x-pem-file" if name.endswith(".crt") else "application/octet-stream"
    return send_file(path, mimetype=mimetype, max_age=0, download_name=name)
