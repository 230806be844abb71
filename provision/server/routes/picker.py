"""The profile picker: a host booted into the live environment (or a person at a desk) chooses
a profile for a MAC address or a known host name, after seeing what each profile installs.

Anonymous use is allowed for what a booting host needs — choosing a profile for a host that is
new or not yet assigned — and nothing more: changing the profile of a host that is installed,
installing, or already assigned takes an admin login.  Every POST carries the CSRF token.

An anonymous answer never names a MAC address the request did not give: a host chosen by its
name is answered by its name (its MAC would open its boot script, and with it its token).

A host that reported its hardware (provision.fleet) sees, for the MAC the request gives, which
profiles its CPU cannot run, with the missing flags, and why no discovery rule chose a
profile; such a profile is refused (an admin may force it).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from provision.errors import ConfigError, ProvisionError
from provision.hosts import BootInfo, HostState
from provision.names import HOSTNAME_MAX, HostName, Mac, ProfileName
from provision.server import bootpaths, fleet, services
from provision.server.auth import audit, check_csrf, is_admin
from provision.server.images import profile_summary
from provision.server.store import Store

bp = Blueprint("picker", __name__)


def _summaries() -> list[dict[str, object]]:
    return [profile_summary(p) for p in services.profiles()]


def _booted(mac: str) -> tuple[BootInfo, float] | None:
    """How the machine with this MAC booted last (its boot events), when it is known."""
    try:
        known = services.store().find_host(Mac(mac)) if mac else None
    except ConfigError:
        return None
    return bootpaths.last_boot(services.store().events(known.mac)) if known else None


@bp.get("/picker")
def pick() -> str:
    mac = request.args.get("mac", "")[:32]
    return render_template(
        "picker.html",
        profiles=_summaries(),
        booted=_booted(mac),
        mac=mac,
        hostname=request.args.get("hostname", "")[:HOSTNAME_MAX],
        chosen=request.args.get("profile", "")[:64],
    )


def _resolve_mac(store: Store, mac: str, hostname: str) -> Mac:
    if mac:
        return Mac(mac)
    name = HostName(hostname)
    for host in store.hosts():
        if host.hostname == name:
            return Mac(host.mac)
    raise ProvisionError(f"no host is named {name!r}: give its MAC address")


def may_assign_anonymously(state: HostState, profile: str, boot_local: bool) -> bool:
    """Pure policy: an anonymous picker may only choose for a fresh, unassigned host."""
    return state is HostState.NEW and not profile and not boot_local


@bp.post("/picker")
def assign() -> ResponseReturnValue:
    check_csrf()
    given_mac = request.form.get("mac", "").strip()
    hostname = request.form.get("hostname", "").strip().lower()
    profile = request.form.get("profile", "")
    admin = is_admin()
    # how this answer may name the host: the MAC only if the request gave it (or an admin asks)
    shown = given_mac or hostname
    store = services.store()
    try:
        if not given_mac and not hostname:
            raise ProvisionError("give the host's MAC address (or the name of a known host)")
        services.profiles().get(ProfileName(profile))  # NotFound names the known profiles
        mac = _resolve_mac(store, given_mac, hostname)
        shown = mac if (given_mac or admin) else hostname
        existing = store.find_host(mac)
        if (
            existing is not None
            and not admin
            and not may_assign_anonymously(existing.state, existing.profile, existing.boot_local)
        ):
            return (
                render_template(
                    "message.html",
                    title="Admin login needed",
                    message=f"{shown} already has a profile or is installed; "
                    "an admin must change it.",
                ),
                403,
            )
        force = request.form.get("force") == "1"
        fleet.check_assignment(mac, profile, admin=is_admin(), force=force)
        host = store.upsert_host(mac, profile=profile, hostname=hostname or None)
    except ProvisionError as exc:
        flash(str(exc))
        return redirect(url_for("picker.pick", mac=given_mac, hostname=hostname, profile=profile))
    if admin:
        audit("picker-assign", host.mac, f"profile={host.profile}")
    flash(f"{shown} will install {host.profile} at its next network boot.")
    if admin:
        return redirect(url_for("hosts.host", mac=host.mac))
    return redirect(url_for("picker.pick", mac=given_mac and host.mac, profile=host.profile))
