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
from provision.errors import ConfigError, NotFound, ProvisionError
from provision.hosts import Host
from provision.names import normalize_mac
from provision.server import fleet, services
from provision.server.app import settings_of
from provision.server.auth import login_required

bp = Blueprint("hosts", __name__)


def _host_or_404(mac: str) -> Host:
    try:
        found = services.store().find_host(mac)
    except ConfigError:
        abort(404)
    if found is None:
        abort(404)
    return found


@bp.get("/hosts")
@login_required
def hosts() -> str:
    return render_template(
        "hosts.html", hosts=services.store().hosts(), profiles=services.profiles().names()
    )


@bp.get("/hosts/<mac>")
@login_required
def host(mac: str) -> str:
    h = _host_or_404(mac)
    return render_template(
        "host.html",
        host=h,
        events=services.store().events(h.mac),
        reports=services.reports().for_host(h.mac),
        profiles=services.profiles().names(),
    )


@bp.post("/hosts")
@login_required
def add() -> Response:
    mac = request.form.get("mac", "")
    try:
        profile = request.form.get("profile", "")
        if profile:
            services.profiles().get(profile)
        h = services.store().upsert_host(
            mac,
            profile=profile or None,
            hostname=request.form.get("hostname", "").strip().lower() or None,
        )
    except ProvisionError as exc:
        flash(str(exc))
        return redirect(url_for("hosts.hosts"))
    flash(f"{h.mac}: profile {h.profile or '(none)'}")
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac>/assign")
@login_required
def assign(mac: str) -> Response:
    h = _host_or_404(mac)
    try:
        profile = request.form.get("profile", "")
        services.profiles().get(profile)
        fleet.check_assignment(h.mac, profile, admin=True, force=request.form.get("force") == "1")
        hostname = request.form.get("hostname")
        services.store().upsert_host(
            h.mac, profile=profile, hostname=hostname.strip().lower() if hostname else None
        )
        flash(f"{h.mac} now uses profile {profile}.")
    except ProvisionError as exc:
        flash(str(exc))
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac>/reinstall")
@login_required
def reinstall(mac: str) -> Response:
    h = _host_or_404(mac)
    services.store().request_reinstall(h.mac, wipe=request.form.get("wipe", "1") == "1")
    power = fleet.reinstall_power_report(h.mac)
    if power is None:
        flash(f"{h.mac} will reinstall at its next network boot.")
    elif power["ok"]:
        flash(f"{h.mac} reinstalls now: {power['message']}")
    else:
        flash(f"{h.mac} will reinstall at its next network boot; power control failed: "
              f"{power['error']}")  # fmt: skip
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac>/delete")
@login_required
def delete(mac: str) -> Response:
    h = _host_or_404(mac)
    try:
        services.store().delete_host(normalize_mac(mac))
    except (ConfigError, NotFound):
        abort(404)
    host_decommissioned_safely(settings_of(current_app).data_dir, h.hostname, h.mac)
    flash(f"{mac} forgotten.")
    return redirect(url_for("hosts.hosts"))
