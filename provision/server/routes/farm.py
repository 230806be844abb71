"""The build farm's worker API (Bearer = a worker token from `provision worker-token create`).

GET  /api/v1/farm/whoami                          the worker's name, the profiles, the timing
POST /api/v1/farm/heartbeat                       {host, queues, profiles, slot}
POST /api/v1/farm/slots/<slot>/lease              {delivery} -> {lease, epoch, pass}
                                                  409 held by another / taken, 410 over
POST /api/v1/farm/slots/<slot>/beat               {lease}; 409 fenced
GET  /api/v1/farm/passes/<pass>/repo.tar          the pass's repository snapshot
GET  /api/v1/farm/passes/<pass>/distfiles/<name>  a distfile the pass declares
POST /api/v1/farm/slots/<slot>/manifest           {lease, files, outcome} -> {need: [{path,
                                                  offset}]} (what the server still lacks)
PUT  /api/v1/farm/slots/<slot>/files/<path>?offset=N   a chunk; X-Lease, X-Chunk-SHA256;
                                                  416 {have} when the offset is not the server's
POST /api/v1/farm/slots/<slot>/complete           {lease} -> {state: uploaded|failed}, or
                                                  422 {error} when the bytes are not the manifest's
Every slot call needs the current lease of the calling worker (409 otherwise: fenced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file

from provision.errors import ConfigError, NotFound
from provision.farm.dispatch import heartbeat_interval
from provision.farm.model import (
    Manifest,
    SlotState,
    parse_manifest,
    parse_slot_id,
    pass_id,
    profile_queue,
    upload_path,
    worker_queue,
)
from provision.farm.store import LeaseAnswer, Slot, Worker
from provision.farm.uploads import (
    MAX_CHUNK,
    FarmLayout,
    OffsetMismatch,
    Refused,
    check_received,
    needed,
    write_chunk,
)
from provision.server import services
from provision.server.app import settings_of
from provision.server.auth import bearer_token
from provision.server.farm_services import build_settings, farm, farm_store
from provision.snapshots.layout import DataLayout

bp = Blueprint("farm", __name__, url_prefix="/api/v1/farm")
_LEASE_STATUS = {
    LeaseAnswer.HELD: 409,
    LeaseAnswer.TAKEN: 409,
    LeaseAnswer.GONE: 410,
    LeaseAnswer.UNKNOWN: 404,
}


class _Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


@bp.errorhandler(_Denied)
def _denied(exc: _Denied) -> tuple[Response, int]:
    return jsonify(error=exc.message), exc.status


@bp.errorhandler(ConfigError)
def _bad(exc: ConfigError) -> tuple[Response, int]:
    return jsonify(error=str(exc), field=exc.where), 400


@bp.errorhandler(NotFound)
def _missing(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 404


def _worker() -> Worker:
    found = farm_store().worker_by_token(bearer_token())
    if found is None:
        raise _Denied(401, "unknown or revoked worker token")
    return found


def _json() -> dict[str, Any]:
    """A JSON object (within the server's body cap: max_body_bytes, server.toml)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ConfigError("body", "expected a JSON object")
    return data


def _data_dir() -> Path:
    return settings_of(current_app).data_dir


def _layout() -> FarmLayout:
    return FarmLayout(_data_dir())


def _held(slot: str, lease: object) -> tuple[Worker, Slot]:
    """The caller and the slot, when the caller holds the slot's current lease."""
    worker = _worker()
    parse_slot_id(slot)
    if not isinstance(lease, str):
        raise ConfigError("lease", "expected the lease token")
    held = farm_store().holder(slot, worker.name, lease)
    if held is None:
        raise _Denied(409, "fenced: this worker does not hold the slot's lease")
    return worker, held


def _slot_dir(s: Slot) -> Path:
    return _layout().slot_dir(s.pass_id, s.n, s.epoch)


# --- identity and liveness ----------------------------------------------------------------------
@bp.get("/whoami")
def whoami() -> Response:
    worker = _worker()
    tuning = build_settings().farm
    return jsonify(
        name=worker.name,
        profiles=services.profiles().names(),
        heartbeat=heartbeat_interval(tuning),
        lease_ttl=tuning.lease_ttl,
        requeue_grace=tuning.requeue_grace,
        visibility_timeout=tuning.visibility_timeout,
    )


@bp.post("/heartbeat")
def heartbeat() -> Response:
    worker = _worker()
    data = _json()
    names = services.profiles().names()
    profiles = [p for p in data.get("profiles", []) if isinstance(p, str) and p in names]
    allowed = {worker_queue(worker.name), *(profile_queue(p) for p in names)}
    queues = [q for q in data.get("queues", []) if isinstance(q, str) and q in allowed]
    host = data.get("host", "")
    slot = data.get("slot", "")
    farm_store().heartbeat(
        worker.name,
        host=host[:253] if isinstance(host, str) else "",
        queues=queues,
        profiles=profiles,
        slot=slot[:80] if isinstance(slot, str) else "",
    )
    return jsonify(ok=True)


# --- leases -------------------------------------------------------------------------------------
@bp.post("/slots/<slot>/lease")
def lease(slot: str) -> tuple[Response, int]:
    worker = _worker()
    pass_, _ = parse_slot_id(slot)
    delivery = _json().get("delivery", "")
    if not isinstance(delivery, str) or len(delivery) > 300:
        raise ConfigError("delivery", "expected a short string naming the delivery")
    store = farm_store()
    answer, found = store.lease(slot, worker.name, delivery, build_settings().farm.lease_ttl)
    if answer is LeaseAnswer.TAKEN and found is not None and (dispatcher := farm()) is not None:
        dispatcher.publish(found)  # k-of-n: this worker built the pass already; ask another
    if answer is not LeaseAnswer.GRANTED or found is None:
        why = {
            LeaseAnswer.HELD: "another delivery holds the lease",
            LeaseAnswer.TAKEN: "this worker already has a slot of the pass (k-of-n)",
            LeaseAnswer.GONE: "the slot is over",
            LeaseAnswer.UNKNOWN: "no such slot",
        }[answer]
        return jsonify(error=why, answer=answer.value), _LEASE_STATUS[answer]
    desc = store.get_pass(pass_).description
    return jsonify(lease=found.lease, epoch=found.epoch, slot=found.id, **{"pass": desc}), 200


@bp.post("/slots/<slot>/beat")
def beat(slot: str) -> tuple[Response, int]:
    worker = _worker()
    parse_slot_id(slot)
    lease_token = _json().get("lease", "")
    if not isinstance(lease_token, str) or not farm_store().beat(slot, worker.name, lease_token):
        return jsonify(error="fenced"), 409
    return jsonify(ok=True), 200


# --- what a worker fetches ----------------------------------------------------------------------
def _leased_pass(pass_: str) -> str:
    """The pass, when the caller holds a lease on one of its slots."""
    worker = _worker()
    pass_id(pass_)
    store = farm_store()
    if not any(s.worker == worker.name and s.state is SlotState.LEASED for s in store.slots(pass_)):
        raise _Denied(409, "fenced: no lease on this pass")
    return pass_


@bp.get("/passes/<pass_>/repo.tar")
def repo_tar(pass_: str) -> Response:
    path = _layout().repo_tar(_leased_pass(pass_))
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/x-tar", conditional=True)


@bp.get("/passes/<pass_>/distfiles/<name>")
def distfile(pass_: str, name: str) -> Response:
    desc = farm_store().get_pass(_leased_pass(pass_)).description
    names = {str(d.get("name")) for d in desc.get("distfiles", [])}
    if name not in names:
        abort(404)
    return send_file(DataLayout(_data_dir()).distfiles / name, conditional=True)


# --- uploads ------------------------------------------------------------------------------------
def _manifest_of(s: Slot) -> Manifest:
    if s.manifest is None:
        raise _Denied(409, "no manifest yet: POST .../manifest first")
    return parse_manifest(s.manifest)


@bp.post("/slots/<slot>/manifest")
def manifest(slot: str) -> Response:
    data = _json()
    _, held = _held(slot, data.get("lease"))
    sent = parse_manifest({k: data.get(k) for k in ("files", "outcome")})
    if held.manifest is not None and parse_manifest(held.manifest) != sent:
        raise _Denied(409, "this lease already has another manifest")
    if held.manifest is None:
        farm_store().set_manifest(slot, sent.as_dict())
    return jsonify(need=needed(_layout(), _slot_dir(held), sent), chunk=MAX_CHUNK)


@bp.put("/slots/<slot>/files/<path:rel>")
def chunk(slot: str, rel: str) -> tuple[Response, int]:
    _, held = _held(slot, request.headers.get("X-Lease", ""))
    upload_path(rel)
    offset = request.args.get("offset", "")
    if not offset.isdigit() or len(offset) > 15:
        raise ConfigError("offset", "expected a byte offset")
    if (request.content_length or 0) > MAX_CHUNK:
        raise _Denied(413, f"at most {MAX_CHUNK} bytes per chunk")
    data = request.get_data(cache=False)
    try:
        size = write_chunk(
            _slot_dir(held),
            _manifest_of(held),
            rel,
            int(offset),
            data,
            request.headers.get("X-Chunk-SHA256", ""),
        )
    except OffsetMismatch as exc:
        return jsonify(error=str(exc), have=exc.have), 416
    return jsonify(size=size), 200


@bp.post("/slots/<slot>/complete")
def complete(slot: str) -> tuple[Response, int]:
    worker, held = _held(slot, _json().get("lease"))
    sent = _manifest_of(held)
    store = farm_store()
    try:
        check_received(_layout(), _slot_dir(held), sent)
    except Refused as exc:
        store.set_state(slot, SlotState.REFUSED, str(exc), worker.name)
        return jsonify(error=str(exc), state=SlotState.REFUSED.value), 422
    if not sent.outcome.ok:
        why = sent.outcome.error or "the build failed"
        store.set_state(slot, SlotState.FAILED, why, worker.name)
        return jsonify(state=SlotState.FAILED.value), 200
    store.set_state(slot, SlotState.UPLOADED, "", worker.name)
    return jsonify(state=SlotState.UPLOADED.value), 200
