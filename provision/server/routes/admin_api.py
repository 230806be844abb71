"""The admin JSON API, version 1 (described with the installer endpoints in openapi.json).

Authentication: the admin session cookie (browser; unsafe methods also send X-CSRF-Token) or
`Authorization: Bearer <token>` from POST /api/v1/auth/token.  The etc-merge report is sent by
the host itself, with its per-host installer token (Bearer, or ?token= for simple clients).
The installer's own endpoints (GET .../config, POST .../events) live in api_v1.py.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import asdict, fields
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from provision.dns.hooks import host_decommissioned_safely
from provision.errors import ConfigError, NotFound, ProvisionError
from provision.hosts import Event, Host
from provision.names import EMAIL_MAX, HostName, Mac, OrderId, ProfileName, SnapshotId
from provision.server import builds as builder
from provision.server import fleet, services
from provision.server.apispec import spec_text
from provision.server.app import settings_of
from provision.server.auth import (
    admin_session,
    attempt_login,
    audit,
    bearer_token,
    issue_api_token,
    log_out,
    login_required,
    throttled_response,
)
from provision.server.images import profile_summary
from provision.server.limits import (
    LOGIN_BODY_BYTES,
    PASSWORD_MAX,
    REASON_MAX,
    body_limit,
    int_arg,
    text_field,
)
from provision.server.merge_reports import MAX_BYTES
from provision.server.orders import Order, etas
from provision.server.routes.orders import create_order
from provision.server.sessions import SessionKind

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")
BUILD_ACTIONS = ("trigger", "hold", "resume", "rollback")
AUDIT_MAX = 500  # entries per GET /api/v1/audit


@bp.errorhandler(ConfigError)
def _bad_input(exc: ConfigError) -> tuple[Response, int]:
    return jsonify(error=str(exc), field=exc.where), 400


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 404


@bp.errorhandler(ProvisionError)
def _failed(exc: ProvisionError) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 409


def _body() -> dict[str, Any]:
    """The request's JSON object ({} for an empty body); 400 for anything else."""
    data = request.get_json(silent=True)
    if data is None and not request.get_data(cache=True):
        return {}
    if not isinstance(data, dict):
        raise ConfigError("body", "expected a JSON object")
    return data


# Host and Event hold only scalars: a shallow dict is their JSON (asdict's deep copy was a
# quarter of a host request's time, issue 20).
_HOST_FIELDS = tuple(f.name for f in fields(Host))
_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def host_dict(h: Host) -> dict[str, Any]:
    d = {name: getattr(h, name) for name in _HOST_FIELDS}
    d["state"] = h.state.value
    return d


def event_dict(e: Event) -> dict[str, Any]:
    d = {name: getattr(e, name) for name in _EVENT_FIELDS}
    d["kind"] = e.kind.value
    return d


def order_dict(o: Order, eta: float | None = None) -> dict[str, Any]:
    d = asdict(o)
    d["state"] = o.state.value
    d.pop("path")
    d.pop("token")
    d["eta"] = None if eta is None else round(eta, 1)
    d["download"] = f"/images/{o.id}/{o.token}" if o.state.value == "ready" else ""
    return d


# --- auth ------------------------------------------------------------------------------------
@bp.post("/auth/token")
@body_limit(LOGIN_BODY_BYTES)
def token() -> tuple[Response, int] | Response:
    data = _body()
    password = text_field(data, "password", PASSWORD_MAX)
    outcome = attempt_login(password, "api")
    if outcome.retry_after:
        return throttled_response(outcome.retry_after)
    if not outcome.ok:
        return jsonify(error="wrong password"), 401
    secret, opened = issue_api_token()
    audit("token", detail=f"API token {opened.short} issued")
    return jsonify(token=secret, expires_in=int(opened.expires - opened.created)), 200


@bp.post("/auth/logout")
@login_required
def logout() -> tuple[str, int]:
    """Revoke the credential this request used (its Bearer token, or the session cookie)."""
    found = admin_session()
    audit("logout", detail="api")
    if found is not None and found.kind is SessionKind.API:
        services.sessions().revoke(bearer_token())
    else:
        log_out()
    return "", 204


@bp.post("/auth/logout-all")
@login_required
def logout_all() -> Response:
    count = services.sessions().revoke_all()
    audit("logout-all", detail=f"{count} sessions and tokens revoked")
    return jsonify(revoked=count)


@bp.get("/audit")
@login_required
def audit_entries() -> Response:
    limit = int_arg("limit", 100, 1, AUDIT_MAX)
    before = int_arg("before", 0, 0, 2**62)
    entries = services.audit_log().entries(limit, before or None)
    return jsonify(entries=[e.as_dict() for e in entries])


# --- hosts -----------------------------------------------------------------------------------
@bp.get("/hosts")
@login_required
def hosts() -> Response:
    store = services.store()
    progress = store.progress()
    return jsonify(hosts=[_with_progress(host_dict(h), progress.get(h.mac)) for h in store.hosts()])


def _with_progress(d: dict[str, Any], progress: tuple[float, str] | None) -> dict[str, Any]:
    """The latest progress the installer reported (0..1) and its step, or null and ""."""
    d["progress"], d["step"] = progress if progress is not None else (None, "")
    return d


@bp.get("/hosts/<mac:mac>")
@login_required
def host(mac: Mac) -> Response:
    store = services.store()
    try:
        after = int_arg("after", 0)
    except ConfigError:
        store.host(mac)  # an unknown host is a 404 whatever else is wrong
        raise
    h, events = store.host_with_events(mac, after=after)
    return jsonify(host=host_dict(h), events=[event_dict(e) for e in events])


def optional_name(data: dict[str, Any], key: str, make: type[str]) -> str | None:
    """A name field: absent/null → None, "" → "" (clears it), else the typed name (400)."""
    value = data.get(key)
    if value is None or value == "":
        return value
    return make(value)


@bp.put("/hosts/<mac:mac>")
@login_required
def assign(mac: Mac) -> Response:
    data = _body()
    profile = optional_name(data, "profile", ProfileName)
    hostname = optional_name(data, "hostname", HostName)
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ConfigError("force", "expected true or false")
    if profile:
        services.profiles().get(profile)
        if services.store().find_host(mac) is not None:
            fleet.check_assignment(mac, profile, admin=True, force=force)
    h = services.store().upsert_host(mac, profile=profile, hostname=hostname)
    audit("host-assign", mac, f"profile={h.profile or '-'} hostname={h.hostname or '-'}")
    return jsonify(host=host_dict(h))


@bp.delete("/hosts/<mac:mac>")
@login_required
def delete(mac: Mac) -> tuple[str, int]:
    store = services.store()
    h = store.host(mac)
    store.delete_host(mac)
    audit("host-delete", mac, h.hostname)
    host_decommissioned_safely(settings_of(current_app).data_dir, h.hostname, h.mac)
    return "", 204


@bp.post("/hosts/<mac:mac>/reinstall")
@login_required
def reinstall(mac: Mac) -> Response:
    wipe = _body().get("wipe", True)
    if not isinstance(wipe, bool):
        raise ConfigError("wipe", "expected true or false")
    h = services.store().request_reinstall(mac, wipe=wipe)
    audit("host-reinstall", mac, f"wipe={wipe}")
    # with power settings: boot once from the network and power cycle now
    power = fleet.reinstall_power_report(h.mac)
    if power is not None and power["ok"]:
        audit("host-power", mac, f"reinstall: {power['action']}")
    return jsonify(host=host_dict(h), power=power)


@bp.post("/hosts/<mac:mac>/etc-merge-report")
@body_limit(MAX_BYTES)
def etc_merge_report(mac: Mac) -> tuple[Response, int]:
    """From the host itself: its installer token as Bearer or ?token= (or an admin)."""
    h = services.store().find_host(mac)
    sent = bearer_token() or request.args.get("token", "")
    if h is None or not sent or not hmac.compare_digest(h.token.encode(), _bytes(sent)):
        return jsonify(error="unknown host or wrong host token"), 401
    report = services.reports().add(h.mac, _body())
    return jsonify(id=report.id, applied=report.applied, pending=report.pending), 201


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@bp.get("/hosts/<mac:mac>/etc-merge-reports")
@login_required
def etc_merge_reports(mac: Mac) -> Response:
    h = services.store().host(mac)
    return jsonify(reports=[r.as_dict() for r in services.reports().for_host(h.mac)])


# --- profiles --------------------------------------------------------------------------------
@bp.get("/profiles")
@login_required
def profiles() -> Response:
    return jsonify(profiles=[profile_summary(p) for p in services.profiles()])


@bp.get("/profiles/<profile:name>")
@login_required
def profile(name: ProfileName) -> Response:
    p = services.profiles().get(name)
    return Response(json.dumps(asdict(p), default=str), mimetype="application/json")


# --- builds ----------------------------------------------------------------------------------
def _known_profile(name: ProfileName) -> ProfileName:
    services.profiles().path_of(name)  # NotFound for an unknown profile
    return name


@bp.get("/builds")
@login_required
def builds() -> Response:
    data_dir = settings_of(current_app).data_dir
    names = services.profiles().names()
    return jsonify(builds=[builder.view(data_dir, n).as_dict() for n in names])


@bp.get("/builds/<profile:profile>")
@login_required
def build(profile: ProfileName) -> Response:
    data_dir = settings_of(current_app).data_dir
    d = builder.view(data_dir, _known_profile(profile)).as_dict()
    d["log_tail"] = builder.log_tail(data_dir, profile, 8192)
    return jsonify(d)


@bp.post("/builds/<profile:profile>/<action>")
@login_required
def build_action(profile: ProfileName, action: str) -> Response:
    data_dir = settings_of(current_app).data_dir
    _known_profile(profile)
    if action not in BUILD_ACTIONS:
        abort(404)
    data = _body()
    detail = ""
    if action == "trigger":
        builder.trigger(data_dir, profile)
    elif action == "resume":
        builder.resume(data_dir, profile)
    elif action == "hold":
        detail = text_field(data, "reason", REASON_MAX) or "held by the admin"
        builder.hold(data_dir, profile, detail)
    else:
        wanted = optional_name(data, "snapshot", SnapshotId) or ""
        detail = builder.rollback(data_dir, profile, wanted)
    audit(f"build-{action}", profile, detail)
    return jsonify(builder.view(data_dir, profile).as_dict())


# --- orders ----------------------------------------------------------------------------------
@bp.get("/orders")
@login_required
def orders() -> Response:
    queue = services.orders()
    eta = etas(queue, time.time())
    return jsonify(orders=[order_dict(o, eta.get(o.id)) for o in queue.all()])


@bp.post("/orders")
@login_required
def order_create() -> tuple[Response, int]:
    data = _body()
    o = create_order(
        ProfileName(text_field(data, "profile", 256, required=True)),
        text_field(data, "kind", 64, required=True),
        text_field(data, "email", EMAIL_MAX + 1),
    )
    return jsonify(order_dict(o, etas(services.orders(), time.time()).get(o.id))), 201


@bp.get("/orders/<order_id:order_id>")
@login_required
def order(order_id: OrderId) -> Response:
    queue = services.orders()
    o = queue.get(order_id)
    return jsonify(order_dict(o, etas(queue, time.time()).get(o.id)))


# --- the description -------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(spec_text(), mimetype="application/json")
