"""The installer's API (Bearer token = the host's token from the store).

GET  /api/v1/hosts/<mac>/config     profile + hostname + settings + where to fetch things,
                                    at the URL the installer reached the server by
                                    (provision.server.urls); image_url: the profile's system
                                    image, when it has one that installs into a normal root
POST /api/v1/hosts/<mac>/events     {kind, step, message, progress, log_tail}; kind=start marks
                                    the host installing, finish installed (boot-once local
                                    boot) and registers it in DNS when DATA_DIR/dns.toml exists
                                    (A/AAAA + PTR for `addresses` in the body, else the
                                    address the event came from; a DNS failure is queued and
                                    never fails the install), failure failed
GET  /api/v1/files/<profile>/<name> the profile's install files from DATA_DIR/install/<profile>/
                                    (stage tarball + .sha512 + .sha512.asc, repo.tar)
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue

from provision.errors import ProvisionError
from provision.hosts import EventKind, Host, HostState, parse_boot_message
from provision.install.config import SECURE_BOOT_FILES, config_document
from provision.mirror import load_mirrors
from provision.names import Mac, ProfileName
from provision.profiles import ProfileSet
from provision.server import fleet, sbfiles, services
from provision.server.app import request_base_url, settings_of
from provision.server.images import installable_image
from provision.server.limits import (
    EVENT_ADDRESSES_MAX,
    EVENT_BODY_BYTES,
    EVENT_LOG_TAIL_MAX,
    EVENT_MESSAGE_MAX,
    EVENT_STEP_MAX,
    body_limit,
    number_field,
    text_field,
)
from provision.server.store import Store
from provision.server.urls import unknown_address_message
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot

log = logging.getLogger(__name__)
bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
EVENT_KINDS = ("start", "progress", "finish", "failure", "log", "boot")
STAGE_NAMES = ("stage.tar.xz", "stage.tar.zst", "stage.tar.gz", "stage.tar")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def store_of(app: Flask) -> Store:
    """The app's one host store (shared with the web UI through provision.server.services)."""
    return services.store(app)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": message}), status


def _authorized_host(mac: Mac) -> Host | ResponseReturnValue:
    host = store_of(current_app).find_host(mac)
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
    sent = token.encode("utf-8", "surrogateescape")
    if host is None or not token or not hmac.compare_digest(sent, host.token.encode()):
        return _error(401, "unknown host or bad token")
    return host


def install_dir(data_dir: Path, profile: str) -> Path:
    """The profile's install stage and files (the builder publishes a stage root's stage)."""
    return DataLayout(data_dir).install_dir(profile)


@bp.get("/hosts/<mac:mac>/config")
def host_config(mac: Mac) -> ResponseReturnValue:
    host = _authorized_host(mac)
    if not isinstance(host, Host):
        return host
    settings = settings_of(current_app)
    if not host.profile:
        return _error(409, f"host {host.mac} has no profile yet (choose one on the server)")
    try:
        profile = ProfileSet(settings.profiles_dir).get(host.profile)
    except ProvisionError as exc:
        return _error(409, str(exc))
    base = request_base_url()
    if base is None:  # 421 Misdirected Request: never a loopback URL to a remote machine
        return _error(421, unknown_address_message(request.host))
    files = install_dir(settings.data_dir, profile.name)
    stage = next((n for n in STAGE_NAMES if (files / n).is_file()), "")
    fpr_file = settings.data_dir / "keys" / "fingerprint"
    secure_boot = None
    if profile.secure_boot:
        try:
            secure_boot = sbfiles.digests(settings.data_dir, SECURE_BOOT_FILES)
        except ProvisionError as exc:  # no shim on the server...: say so before the install
            return _error(409, f"profile {profile.name} has secure_boot = true, but: {exc}")
    doc: dict[str, Any] = config_document(
        host_id=host.mac,
        hostname=host.hostname,
        profile=profile,
        settings=store_of(current_app).host_settings(host.mac),
        base_url=base,
        wipe=host.wipe,
        stage_url=f"{base}/api/v1/files/{profile.name}/{stage}" if stage else "",
        repo_url=_repo_url(settings.data_dir, base, profile.name),
        key_fingerprint=fpr_file.read_text().strip() if fpr_file.is_file() else "",
        image_url=image_url(settings.data_dir, base, profile.name),
        secure_boot_sha256=secure_boot,
        force_cpu=fleet.forced(host),
        mirrors=load_mirrors(settings.data_dir),
    )
    return jsonify(doc)


def image_url(data_dir: Path, base: str, profile: str) -> str:
    """The current system image's URL, when the profile has one that installs into a target
    root (see provision.server.images.installable_image); "" otherwise."""
    return f"{base}/image/{profile}/current" if installable_image(data_dir, profile) else ""


def _repo_url(data_dir: Path, base: str, profile: str) -> str:
    """The ebuild-repository snapshot matching the binhost: the published one (binhost
    blueprint), else a repo.tar put beside the stage."""
    if current_snapshot(data_dir, profile) is not None:
        return f"{base}/repo/{profile}/snapshot.tar.gz"
    if (install_dir(data_dir, profile) / "repo.tar").is_file():
        return f"{base}/api/v1/files/{profile}/repo.tar"
    return ""


@bp.post("/hosts/<mac:mac>/events")
@body_limit(EVENT_BODY_BYTES)
def host_event(mac: Mac) -> ResponseReturnValue:
    host = _authorized_host(mac)
    if not isinstance(host, Host):
        return host
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("kind") not in EVENT_KINDS:
        return _error(400, f"expected a JSON object with kind in {', '.join(EVENT_KINDS)}")
    progress = number_field(body, "progress", 0.0, 1.0)
    step = text_field(body, "step", EVENT_STEP_MAX)
    message = text_field(body, "message", EVENT_MESSAGE_MAX)
    log_tail = text_field(body, "log_tail", EVENT_LOG_TAIL_MAX)
    addresses = body.get("addresses", [])
    if (
        not isinstance(addresses, list)
        or len(addresses) > EVENT_ADDRESSES_MAX
        or not all(_is_ip(a) for a in addresses)
    ):
        return _error(400, f"addresses: expected a list of at most {EVENT_ADDRESSES_MAX} IPs")
    if body["kind"] == "boot":  # step: a boot path; message: firmware=... secure_boot=...
        try:
            parse_boot_message(step, message)
        except ValueError as exc:
            return _error(400, f"boot event: {exc}")
    store = store_of(current_app)
    event = store.add_event(
        host.mac,
        EventKind(body["kind"]),
        step=step,
        message=message,
        progress=progress,
        log_tail=log_tail,
    )
    new_state = {
        "start": HostState.INSTALLING,
        "finish": HostState.INSTALLED,
        "failure": HostState.FAILED,
    }.get(body["kind"])
    if new_state is not None:
        store.set_state(host.mac, new_state, ip=request.remote_addr or None)
    if body["kind"] == "finish":
        register_in_dns(
            settings_of(current_app).data_dir,
            host,
            [str(a) for a in addresses] or [request.remote_addr or ""],
        )
    return jsonify({"id": event.id}), 201


def _is_ip(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def register_in_dns(data_dir: Path, host: Host, addresses: list[str]) -> threading.Thread | None:
    """Register the installed host in DNS in the background (the installer's event is answered
    at once; the DNS server's timeouts never hold it up).  Does nothing without dns.toml."""
    from provision.dns.hooks import host_installed_safely
    from provision.dns.settings import default_path

    if not default_path(data_dir).is_file():
        return None
    addresses = [a for a in addresses if _is_ip(a)]
    if not host.hostname or not addresses:
        log.warning("DNS: %s has no host name or address, not registered", host.mac)
        return None
    worker = threading.Thread(
        target=host_installed_safely,
        args=(data_dir, host.hostname, addresses, host.mac),
        name=f"dns-register-{host.mac}",
        daemon=True,
    )
    worker.start()
    return worker


@bp.get("/files/<profile:profile>/<name>")
def install_file(profile: ProfileName, name: str) -> ResponseReturnValue:
    if not _NAME_RE.match(name):
        abort(404)
    directory = install_dir(settings_of(current_app).data_dir, profile)
    if not (directory / name).is_file():
        return _error(404, f"no file {name} for profile {profile}")
    return send_from_directory(directory, name)
