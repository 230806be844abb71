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
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from provision.dns.hooks import host_decommissioned_safely
from provision.errors import ConfigError, NotFound, ProvisionError
from provision.hosts import Event, Host
from provision.names import normalize_mac
from provision.server import builds as builder
from provision.server import fleet, services
from provision.server.apispec import spec_text
from provision.server.app import settings_of
from provision.server.auth import (
    TOKEN_MAX_AGE,
    bearer_token,
    issue_api_token,
    login_required,
    password_ok,
)
from provision.server.images import profile_summary
from provision.server.merge_reports import MAX_BYTES
from provision.server.orders import Order, etas
from provision.server.routes.orders import create_order

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")
BUILD_ACTIONS = ("trigger", "hold", "resume", "rollback")


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
    data = request.get_json(silent=True)
    if data is None and not request.data:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("body", "expected a JSON object")
    return data


def _str(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(key, "required")
        return None
    if not isinstance(value, str):
        raise ConfigError(key, "expected a string")
    return value


def host_dict(h: Host) -> dict[str, Any]:
    d = asdict(h)
    d["state"] = h.state.value
    return d


def event_dict(e: Event) -> dict[str, Any]:
    return asdict(e)


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
def token() -> tuple[Response, int]:
    data = _body()
    password = _str(data, "password") or ""
    if not password_ok(settings_of(current_app).admin_password_hash, password):
        return jsonify(error="wrong password"), 401
    return jsonify(token=issue_api_token(), expires_in=TOKEN_MAX_AGE), 200


# --- hosts -----------------------------------------------------------------------------------
@bp.get("/hosts")
@login_required
def hosts() -> Response:
    return jsonify(hosts=[host_dict(h) for h in services.store().hosts()])


@bp.get("/hosts/<mac>")
@login_required
def host(mac: str) -> Response:
    store = services.store()
    h = store.host(mac)
    after = request.args.get("after", "0")
    if not after.isdigit():
        raise ConfigError("after", "expected an event id (integer)")
    events = [event_dict(e) for e in store.events(h.mac, after=int(after))]
    return jsonify(host=host_dict(h), events=events)


@bp.put("/hosts/<mac>")
@login_required
def assign(mac: str) -> Response:
    data = _body()
    profile = _str(data, "profile")
    hostname = _str(data, "hostname")
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ConfigError("force", "expected true or false")
    if profile:
        services.profiles().get(profile)
        if services.store().find_host(mac) is not None:
            fleet.check_assignment(normalize_mac(mac), profile, admin=True, force=force)
    h = services.store().upsert_host(mac, profile=profile, hostname=hostname)
    return jsonify(host=host_dict(h))


@bp.delete("/hosts/<mac>")
@login_required
def delete(mac: str) -> tuple[str, int]:
    store = services.store()
    h = store.host(mac)
    store.delete_host(mac)
    host_decommissioned_safely(settings_of(current_app).data_dir, h.hostname, h.mac)
    return "", 204


@bp.post("/hosts/<mac>/reinstall")
@login_required
def reinstall(mac: str) -> Response:
    wipe = _body().get("wipe", True)
    if not isinstance(wipe, bool):
        raise ConfigError("wipe", "expected true or false")
    h = services.store().request_reinstall(mac, wipe=wipe)
    # with power settings: boot once from the network and power cycle now
    return jsonify(host=host_dict(h), power=fleet.reinstall_power_report(h.mac))


@bp.post("/hosts/<mac>/etc-merge-report")
def etc_merge_report(mac: str) -> tuple[Response, int]:
    """From the host itself: its installer token as Bearer or ?token= (or an admin)."""
    h = services.store().find_host(normalize_mac(mac))
    sent = bearer_token() or request.args.get("token", "")
    if h is None or not sent or not hmac.compare_digest(h.token.encode(), sent.encode()):
        return jsonify(error="unknown host or wrong host token"), 401
    if request.content_length is not None and request.content_length > MAX_BYTES:
        return jsonify(error=f"report larger than {MAX_BYTES} bytes"), 413
    report = services.reports().add(h.mac, _body())
    return jsonify(id=report.id, applied=report.applied, pending=report.pending), 201


@bp.get("/hosts/<mac>/etc-merge-reports")
@login_required
def etc_merge_reports(mac: str) -> Response:
    h = services.store().host(mac)
    return jsonify(reports=[r.as_dict() for r in services.reports().for_host(h.mac)])


# --- profiles --------------------------------------------------------------------------------
@bp.get("/profiles")
@login_required
def profiles() -> Response:
    return jsonify(profiles=[profile_summary(p) for p in services.profiles()])


@bp.get("/profiles/<name>")
@login_required
def profile(name: str) -> Response:
    p = services.profiles().get(name)
    return Response(json.dumps(asdict(p), default=str), mimetype="application/json")


# --- builds ----------------------------------------------------------------------------------
def _known_profile(name: str) -> str:
    services.profiles().path_of(name)  # NotFound for an unknown profile
    return name


@bp.get("/builds")
@login_required
def builds() -> Response:
    data_dir = settings_of(current_app).data_dir
    names = services.profiles().names()
    return jsonify(builds=[builder.view(data_dir, n).as_dict() for n in names])


@bp.get("/builds/<profile>")
@login_required
def build(profile: str) -> Response:
    data_dir = settings_of(current_app).data_dir
    d = builder.view(data_dir, _known_profile(profile)).as_dict()
    d["log_tail"] = builder.log_tail(data_dir, profile, 8192)
    return jsonify(d)


@bp.post("/builds/<profile>/<action>")
@login_required
def build_action(profile: str, action: str) -> Response:
    data_dir = settings_of(current_app).data_dir
    _known_profile(profile)
    if action not in BUILD_ACTIONS:
        abort(404)
    data = _body()
    if action == "trigger":
        builder.trigger(data_dir, profile)
    elif action == "resume":
        builder.resume(data_dir, profile)
    elif action == "hold":
        builder.hold(data_dir, profile, _str(data, "reason") or "held by the admin")
    else:
        builder.rollback(data_dir, profile, _str(data, "snapshot") or "")
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
        _str(data, "profile", required=True) or "",
        _str(data, "kind", required=True) or "",
        _str(data, "email") or "",
    )
    return jsonify(order_dict(o, etas(services.orders(), time.time()).get(o.id))), 201


@bp.get("/orders/<int:order_id>")
@login_required
def order(order_id: int) -> Response:
    queue = services.orders()
    o = queue.get(order_id)
    return jsonify(order_dict(o, etas(queue, time.time()).get(o.id)))


# --- the description -------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(spec_text(), mimetype="application/json")
