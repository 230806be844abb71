"""Network boot over HTTP: iPXE scripts per host and the live environment's kernel + initrd.

GET /boot/boot.ipxe           the chain script DHCP hands to iPXE (→ /boot/${mac}.ipxe)
GET /boot/<mac>.ipxe          per host (pxe.ipxe.script_for); an unknown MAC is registered as a
                              new host and boots the live environment to report its hardware
                              (discovery; without a live environment: the profile menu);
                              ?profile=NAME (from the menu) sets the profile of a host that
                              has none, unless its reported CPU cannot run it; not a MAC: 404;
                              the boot path (PXE or UEFI HTTP boot: provision.server.bootpaths)
                              is recorded and the menu shows it
GET /boot/live/vmlinuz        DATA_DIR/live/vmlinuz
GET /boot/live/initrd.img     DATA_DIR/live/initrd.img
"""

from __future__ import annotations

import logging
from contextlib import closing

from flask import Blueprint, Response, current_app, request, send_from_directory

from provision.errors import ConfigError
from provision.names import Mac
from provision.profiles import ProfileSet
from provision.pxe import ipxe
from provision.server import bootpaths, fleet, services
from provision.server.app import request_base_url, settings_of
from provision.server.store import Store
from provision.server.urls import unknown_address_message

bp = Blueprint("boot", __name__)
log = logging.getLogger("provision.boot")

LIVE_FILES = ("vmlinuz", "initrd.img")


def _script(text: str, status: int = 200) -> Response:
    resp = Response(text, status=status, mimetype="text/plain")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _unknown_address() -> Response:
    # 421 Misdirected Request: never a loopback URL to a machine that is not on loopback
    message = unknown_address_message(request.host)
    log.warning("boot: %s from %s", message, request.remote_addr)
    return _script(f"#!ipxe\necho provision: {message}\nexit 1\n", 421)


@bp.get("/boot/boot.ipxe")
def chain() -> Response:
    base = request_base_url()
    return _unknown_address() if base is None else _script(ipxe.chain_script(base))


@bp.get("/boot/<name>.ipxe")
def host_script(name: str) -> Response:
    settings = settings_of(current_app)
    try:
        mac = Mac(name)
    except ConfigError:  # a path that names no host: 404 (the body is for people with curl)
        return _script("#!ipxe\necho provision: that is not a MAC address\nexit 1\n", 404)
    base = request_base_url()
    if base is None:
        return _unknown_address()
    profiles = ProfileSet(settings.profiles_dir).names()
    chosen = request.args.get("profile", "")
    with closing(Store.in_data_dir(settings.data_dir)) as store:
        host = store.find_host(mac)
        if host is None:
            host = store.upsert_host(mac)
            log.info("boot: new host %s registered", mac)
        if chosen and chosen in profiles and not host.profile and not host.boot_local:
            found = fleet.profile_fit(mac, chosen)
            if found is not None and not found.ok:
                log.info("boot: host %s cannot run %s: %s", mac, chosen, found.reason)
                return _script(ipxe.menu_script(
                    base, mac, profiles,
                    message=f"this machine cannot run {chosen}: missing "
                    + " ".join(found.missing)[:120],
                ))  # fmt: skip
            host = store.upsert_host(mac, profile=chosen)
            log.info("boot: host %s chose profile %s at its console", mac, chosen)
        booted = bootpaths.network_boot(
            services.sightings(), request.remote_addr or "", store.events(mac)
        )
        bootpaths.record(store, mac, booted)
    discover = all((settings.data_dir / "live" / name).is_file() for name in LIVE_FILES)
    log.info("boot: %s → %s", mac, _kind(host.boot_local, host.profile in profiles, discover))
    return _script(
        ipxe.script_for(host, profiles, base, discover=discover, booted=booted.summary())
    )


def _kind(boot_local: bool, has_profile: bool, discover: bool) -> str:
    if boot_local:
        return "local disk"
    if has_profile:
        return "installer"
    return "discovery (live environment)" if discover else "profile menu"


@bp.get("/boot/live/<name>")
def live(name: str) -> Response:
    if name not in LIVE_FILES:
        return Response("not found\n", status=404, mimetype="text/plain")
    directory = settings_of(current_app).data_dir / "live"
    if not (directory / name).is_file():
        return Response(
            f"no live environment: {directory / name} is missing\n",
            status=404,
            mimetype="text/plain",
        )
    return send_from_directory(directory.resolve(), name, max_age=0)
