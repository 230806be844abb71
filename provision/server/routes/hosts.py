"""Hosts: the list, one host's page (event timeline with log tails, merge reports), and the
admin's actions: assign a profile, reinstall (boot-once again), forget."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from provision.dns.hooks import host_decommissioned_safely
from provision.errors import ProvisionError
from provision.hosts import Host
from provision.names import Mac, ProfileName
from provision.server import bootpaths, fleet, services
from provision.server.app import settings_of
from provision.server.auth import audit, login_required

bp = Blueprint("hosts", __name__)


def _host_or_404(mac: Mac) -> Host:
    found = services.store().find_host(mac)
    if found is None:
        abort(404)
    return found


def _form_name(field: str) -> str:
    """A name from a form field, blanks around it dropped (a typed constructor checks it)."""
    return request.form.get(field, "").strip()


@bp.get("/hosts")
@login_required
def hosts() -> str:
    store = services.store()
    return render_template(
        "hosts.html",
        hosts=store.hosts(),
        progress=store.progress(),
        profiles=services.profiles().names(),
    )


@bp.get("/hosts/<mac:mac>")
@login_required
def host(mac: Mac) -> str:
    h = _host_or_404(mac)
    events = services.store().events(h.mac)
    return render_template(
        "host.html",
        host=h,
        booted=bootpaths.last_boot(events),
        events=events,
        progress=services.store().progress().get(h.mac),
        reports=services.reports().for_host(h.mac),
        profiles=services.profiles().names(),
    )


@bp.post("/hosts")
@login_required
def add() -> Response:
    try:
        mac = Mac(_form_name("mac"))
        profile = _form_name("profile")
        if profile:
            services.profiles().get(ProfileName(profile))
        h = services.store().upsert_host(
            mac, profile=profile or None, hostname=_form_name("hostname").lower() or None
        )
    except ProvisionError as exc:
        flash(str(exc))
        return redirect(url_for("hosts.hosts"))
    audit("host-add", h.mac, f"profile={h.profile or '-'} hostname={h.hostname or '-'}")
    flash(f"{h.mac}: profile {h.profile or '(none)'}")
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac:mac>/assign")
@login_required
def assign(mac: Mac) -> Response:
    h = _host_or_404(mac)
    try:
        profile = ProfileName(_form_name("profile"))
        services.profiles().get(profile)
        force = request.form.get("force") == "1"
        fleet.check_assignment(h.mac, profile, admin=True, force=force)
        hostname = request.form.get("hostname")
        h = services.store().upsert_host(
            h.mac, profile=profile, hostname=hostname.strip().lower() if hostname else None
        )
        audit("host-assign", h.mac, f"profile={h.profile} hostname={h.hostname or '-'}")
        flash(f"{h.mac} now uses profile {profile}.")
    except ProvisionError as exc:
        flash(str(exc))
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac:mac>/reinstall")
@login_required
def reinstall(mac: Mac) -> Response:
    h = _host_or_404(mac)
    wipe = request.form.get("wipe", "1") == "1"
    services.store().request_reinstall(h.mac, wipe=wipe)
    audit("host-reinstall", h.mac, f"wipe={wipe}")
    power = fleet.reinstall_power_report(h.mac)
    if power is None:
        flash(f"{h.mac} will reinstall at its next network boot.")
    elif power["ok"]:
        audit("host-power", h.mac, f"reinstall: {power['action']}")
        flash(f"{h.mac} reinstalls now: {power['message']}")
    else:
        flash(f"{h.mac} will reinstall at its next network boot; power control failed: "
              f"{power['error']}")  # fmt: skip
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac:mac>/delete")
@login_required
def delete(mac: Mac) -> Response:
    h = _host_or_404(mac)
    services.store().delete_host(h.mac)
    audit("host-delete", h.mac, h.hostname)
    host_decommissioned_safely(settings_of(current_app).data_dir, h.hostname, h.mac)
    flash(f"{h.mac} forgotten.")
    return redirect(url_for("hosts.hosts"))
