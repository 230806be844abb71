"""The profile picker: a host booted into the live environment (or a person at a desk) chooses
a profile for a MAC address or a known host name, after seeing what each profile installs.

Anonymous use is allowed for what a booting host needs — choosing a profile for a host that is
new or not yet assigned — and nothing more: changing the profile of a host that is installed,
installing, or already assigned takes an admin login.  Every POST carries the CSRF token.

A host that reported its hardware (provision.fleet) sees which profiles its CPU cannot run,
with the missing flags, and why no discovery rule chose a profile; such a profile is refused
(an admin may force it).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from provision.errors import ProvisionError
from provision.hosts import HostState
from provision.names import normalize_mac
from provision.server import fleet, services
from provision.server.auth import check_csrf, is_admin
from provision.server.images import profile_summary
from provision.server.store import Store

bp = Blueprint("picker", __name__)


def _summaries() -> list[dict[str, object]]:
    return [profile_summary(p) for p in services.profiles()]


@bp.get("/picker")
def pick() -> str:
    mac = request.args.get("mac", "")
    return render_template(
        "picker.html",
        profiles=_summaries(),
        mac=mac,
        hostname=request.args.get("hostname", ""),
        chosen=request.args.get("profile", ""),
    )


def _resolve_mac(store: Store, mac: str, hostname: str) -> str:
    if mac:
        return normalize_mac(mac)
    for host in store.hosts():
        if hostname and host.hostname == hostname:
            return host.mac
    raise ProvisionError(f"no host is named {hostname!r}: give its MAC address")


def may_assign_anonymously(state: HostState, profile: str, boot_local: bool) -> bool:
    """Pure policy: an anonymous picker may only choose for a fresh, unassigned host."""
    return state is HostState.NEW and not profile and not boot_local


@bp.post("/picker")
def assign() -> Response | tuple[str, int]:
    check_csrf()
    mac = request.form.get("mac", "").strip()
    hostname = request.form.get("hostname", "").strip().lower()
    profile = request.form.get("profile", "")
    store = services.store()
    try:
        if not mac and not hostname:
            raise ProvisionError("give the host's MAC address (or the name of a known host)")
        services.profiles().get(profile)  # NotFound names the known profiles
        mac = _resolve_mac(store, mac, hostname)
        existing = store.find_host(mac)
        if (
            existing is not None
            and not is_admin()
            and not may_assign_anonymously(existing.state, existing.profile, existing.boot_local)
        ):
            return (
                render_template(
                    "message.html",
                    title="Admin login needed",
                    message=f"{mac} already has a profile or is installed; "
                    "an admin must change it.",
                ),
                403,
            )
        force = request.form.get("force") == "1"
        fleet.check_assignment(mac, profile, admin=is_admin(), force=force)
        host = store.upsert_host(mac, profile=profile, hostname=hostname or None)
    except ProvisionError as exc:
        flash(str(exc))
        return redirect(url_for("picker.pick", mac=mac, hostname=hostname, profile=profile))
    flash(f"{host.mac} will install {host.profile} at its next network boot.")
    if is_admin():
        return redirect(url_for("hosts.host", mac=host.mac))
    return redirect(url_for("picker.pick", mac=host.mac, profile=host.profile))
