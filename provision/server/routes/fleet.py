"""The fleet's HTTP side: inventory reports, rule decisions, power settings and actions.

POST /api/v1/hosts/<mac>/inventory      the live environment reports its hardware (host token);
                                        a host without a profile gets one from the rules
GET  /api/v1/hosts/<mac>/inventory      admin: the report, with the fit of every profile
GET  /api/v1/hosts/<mac>/rules          admin: what the rules decide for the host, in words
GET  /api/v1/rules                      admin: the rules (or their error), profiles' CPU needs
GET/PUT/DELETE /api/v1/hosts/<mac>/power   admin: power settings (the password is never shown)
POST /api/v1/hosts/<mac>/power/<action> admin: on, off, cycle, status
GET  /rules                             admin page: the rules and every profile's CPU needs
POST /hosts/<mac>/power[/<action>]      admin forms of the host page
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from provision.errors import ConfigError, NotFound, ProvisionError
from provision.fleet.fit import CpuRequirement
from provision.fleet.inventory import BODY_MAX, parse_inventory
from provision.fleet.power.control import PowerResult
from provision.fleet.power.settings import PowerAction
from provision.hosts import Host
from provision.names import Mac, normalize_mac
from provision.pxe.ipxe import picker_url
from provision.server import fleet, services
from provision.server.app import request_base_url, settings_of
from provision.server.auth import audit, bearer_token, login_required
from provision.server.limits import body_limit

bp = Blueprint("fleet", __name__)
POWER_BODY_MAX = 8 << 10


@bp.errorhandler(ConfigError)
def _bad_input(exc: ConfigError) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify(error=str(exc), field=exc.where), 400
    flash(str(exc))
    return redirect(request.referrer or url_for("hosts.hosts"))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 404


@bp.errorhandler(ProvisionError)
def _failed(exc: ProvisionError) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify(error=str(exc)), 409
    flash(str(exc))
    return redirect(request.referrer or url_for("hosts.hosts"))


def json_object(what: str) -> dict[str, Any]:
    """The request's JSON object (the app's bounded JSON; the route's body_limit); 400 else."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ConfigError(what, "expected a JSON object")
    return data


def _host(mac: Mac) -> Host:
    found = services.store().find_host(mac)
    if found is None:
        raise NotFound(f"unknown host {mac}")
    return found


def _action(name: str) -> PowerAction:
    if name not in tuple(PowerAction):
        raise NotFound(f"unknown power action {name[:20]!r} (on, off, cycle, status)")
    return PowerAction(name)


# --- the installer's report ------------------------------------------------------------------
@bp.post("/api/v1/hosts/<mac:mac>/inventory")
@body_limit(BODY_MAX)
def report(mac: Mac) -> ResponseReturnValue:
    host = services.store().find_host(mac)
    sent = bearer_token().encode("utf-8", "surrogateescape")
    if host is None or not sent or not hmac.compare_digest(sent, host.token.encode()):
        return jsonify(error="unknown host or bad token"), 401
    inventory = parse_inventory(json_object("inventory"))
    reported = fleet.receive_inventory(host, inventory)
    base = request_base_url() or settings_of(current_app).base_url
    return jsonify(reported.as_dict(picker_url(base, host.mac)))


# --- admin API -------------------------------------------------------------------------------
def inventory_json(mac: str) -> dict[str, Any]:
    stored = fleet.fleet_store().inventory(mac)
    if stored is None:
        return {"inventory": None, "updated": None, "fit": {}}
    fits = fleet.fits(stored.inventory, services.profiles())
    return {
        "inventory": stored.inventory.to_doc(),
        "updated": stored.updated,
        "fit": {
            name: {"ok": f.ok, "missing": list(f.missing), "reason": f.reason}
            for name, f in fits.items()
        },
    }


@bp.get("/api/v1/hosts/<mac:mac>/inventory")
@login_required
def inventory(mac: Mac) -> ResponseReturnValue:
    return jsonify(inventory_json(_host(mac).mac))


@bp.get("/api/v1/hosts/<mac:mac>/rules")
@login_required
def host_rules(mac: Mac) -> ResponseReturnValue:
    h = _host(mac)
    decision, lines = fleet.explain(h.mac)
    results = []
    if decision is not None:
        results = [
            {"rule": r.rule.name, "profile": r.rule.profile, "matches": r.matched,
             "reasons": list(r.reasons)}
            for r in decision.results
        ]  # fmt: skip
    return jsonify(
        profile=decision.profile if decision else "",
        hostname=decision.hostname if decision else "",
        rules=results,
        explain=lines,
    )


def requirement_json(req: CpuRequirement | str) -> dict[str, Any]:
    if isinstance(req, str):
        return {"error": req}
    level = req.level
    return {
        "arch": req.arch,
        "level": level.short if level else "",
        "summary": req.summary(),
        "flags": sorted(req.flags),
        "sources": list(req.sources),
    }


def rules_json() -> dict[str, Any]:
    rules, error = fleet.rules_or_error()
    out = [
        {
            "name": r.name, "profile": r.profile, "priority": r.priority,
            "chassis": [c.value for c in r.chassis], "vendor": list(r.vendor),
            "product": list(r.product), "cpu_level": r.cpu_level.short if r.cpu_level else "",
            "cpu_flags": list(r.cpu_flags), "min_ram": r.min_ram, "max_ram": r.max_ram,
            "min_disk_size": r.min_disk_size, "min_disks": r.min_disks,
            "max_disks": r.max_disks, "mac_prefix": list(r.mac_prefix),
            "max_hosts": r.max_hosts, "hostname": r.hostname, "wipe": r.wipe,
        }
        for r in (rules or ())
    ]  # fmt: skip
    reqs = fleet.requirements(services.profiles())
    return {
        "rules": out,
        "error": error,
        "counts": fleet.fleet_store().rule_counts(),
        "profiles": {name: requirement_json(req) for name, req in reqs.items()},
    }


@bp.get("/api/v1/rules")
@login_required
def rules_api() -> ResponseReturnValue:
    return jsonify(rules_json())


def power_json(mac: str) -> dict[str, Any]:
    view = fleet.power_view(mac)
    if view is None:
        return {"power": None}
    return {"power": {**view.settings.public(), "password_set": view.has_password}}


@bp.get("/api/v1/hosts/<mac:mac>/power")
@login_required
def power_get(mac: Mac) -> ResponseReturnValue:
    return jsonify(power_json(_host(mac).mac))


@bp.put("/api/v1/hosts/<mac:mac>/power")
@body_limit(POWER_BODY_MAX)
@login_required
def power_put(mac: Mac) -> ResponseReturnValue:
    h = _host(mac)
    view = fleet.save_power(h.mac, json_object("power"))
    audit("host-power-settings", h.mac, view.settings.describe())
    return jsonify(power_json(h.mac))


@bp.delete("/api/v1/hosts/<mac:mac>/power")
@login_required
def power_delete(mac: Mac) -> ResponseReturnValue:
    h = _host(mac)
    if not fleet.fleet_store().delete_power(h.mac):
        raise NotFound(f"{h.mac} has no power settings")
    audit("host-power-settings", h.mac, "none")
    return "", 204


@bp.post("/api/v1/hosts/<mac:mac>/power/<action>")
@login_required
def power_post(mac: Mac, action: str) -> ResponseReturnValue:
    result = _audited_power(_host(mac).mac, action)
    return jsonify(power={"action": result.action, "state": result.state,
                          "message": result.message})  # fmt: skip


def _audited_power(mac: str, action: str) -> PowerResult:
    """Run a power action on a host, with an audit entry whether it worked or not."""
    chosen = _action(action)
    try:
        result = fleet.power_action(mac, chosen)
    except ProvisionError:
        audit("host-power", mac, chosen.value, ok=False)
        raise
    audit("host-power", mac, chosen.value)
    return result


# --- admin pages -----------------------------------------------------------------------------
@bp.get("/rules")
@login_required
def rules_page() -> str:
    return render_template("rules.html", **rules_json())


@bp.post("/hosts/<mac:mac>/power")
@login_required
def power_form(mac: Mac) -> ResponseReturnValue:
    h = _host(mac)
    form = request.form
    doc: dict[str, Any] = {"driver": form.get("driver", "")}
    for key in ("address", "system", "username", "interface", "broadcast", "boot"):
        if form.get(key):
            doc[key] = form[key].strip()
    if form.get("port", "").strip():
        if not form["port"].strip().isdigit():
            raise ConfigError("power.port", "expected a port number")
        doc["port"] = int(form["port"])
    if form.get("password"):
        doc["password"] = form["password"]
    if doc["driver"] == "redfish":
        doc["verify_tls"] = form.get("verify_tls") == "1"
    if form.get("driver") == "none":
        fleet.fleet_store().delete_power(h.mac)
        audit("host-power-settings", h.mac, "none")
        flash(f"{h.mac}: no power control")
    else:
        view = fleet.save_power(h.mac, doc)
        audit("host-power-settings", h.mac, view.settings.describe())
        flash(f"{h.mac}: power by {view.settings.describe()}")
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.post("/hosts/<mac:mac>/power/<action>")
@login_required
def power_button(mac: Mac, action: str) -> ResponseReturnValue:
    h = _host(mac)
    result = _audited_power(h.mac, action)
    flash(f"{h.mac}: {result.message}")
    return redirect(url_for("hosts.host", mac=h.mac))


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"fleet_host": fleet_host_view, "fleet_picker": fleet_picker_view}


def fleet_host_view(mac: str) -> dict[str, Any]:
    """What the host page shows about the fleet (template helper)."""
    store = fleet.fleet_store()
    inv = inventory_json(mac)
    decision, lines = fleet.explain(mac)
    assignment = store.assignment(mac)
    return {
        **inv,
        "explain": lines,
        "decision": decision,
        "assigned_by": assignment.rule if assignment else "",
        "forced": store.cpu_override(mac),
        **power_json(mac),
    }


def fleet_picker_view(mac: str) -> dict[str, Any]:
    """For the picker: each profile's fit on this machine and why no rule chose one.
    Empty when the MAC is not a known host that reported its hardware."""
    try:
        mac = normalize_mac(mac)
    except ConfigError:
        return {}
    stored = fleet.fleet_store().inventory(mac)
    if stored is None:
        return {}
    fits = fleet.fits(stored.inventory, services.profiles())
    _, lines = fleet.explain(mac)
    level = stored.inventory.cpu.level
    return {
        "fit": {n: f for n, f in fits.items()},
        "explain": lines,
        "cpu": f"{stored.inventory.cpu.model} ({level.label if level else 'below x86-64'})",
    }
