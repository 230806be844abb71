"""Image orders: order an ISO or a tarball for a profile, watch the queue (ETA, progress), and
download the result.  The download link (also mailed) carries an unguessable token, so it works
without a login; fetching it records the fetch (unfetched images expire sooner)."""

from __future__ import annotations

import hmac
import time
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.wrappers import Response

from provision.errors import ProvisionError
from provision.names import OrderId, ProfileName
from provision.server import services
from provision.server.app import settings_of
from provision.server.auth import audit, login_required
from provision.server.images import images_dir, iso_maker_available
from provision.server.orders import KINDS, Order, OrderState, etas

bp = Blueprint("orders", __name__)


def create_order(profile: str, kind: str, email: str) -> Order:
    """Validate and queue an order, and wake the worker (shared with the JSON API)."""
    name = ProfileName(profile)
    services.profiles().get(name)
    order = services.orders().create(name, kind, email.strip())
    audit("order-create", str(order.id), f"{order.kind} of {order.profile}")
    worker = services.worker()
    if worker is not None:
        worker.wake()
    return order


@bp.get("/orders")
@login_required
def orders() -> str:
    queue = services.orders()
    return render_template(
        "orders.html",
        orders=queue.all(),
        etas=etas(queue, time.time()),
        profiles=services.profiles().names(),
        kinds=KINDS,
        iso_ready=iso_maker_available(),
        worker=services.worker() is not None,
        mail=bool(services.order_config().smtp_host),
    )


@bp.post("/orders")
@login_required
def order() -> Response:
    try:
        o = create_order(
            request.form.get("profile", ""),
            request.form.get("kind", ""),
            request.form.get("email", ""),
        )
    except ProvisionError as exc:
        flash(str(exc))
        return redirect(url_for("orders.orders"))
    flash(f"Order {o.id} queued: {o.kind} for {o.profile}.")
    return redirect(url_for("orders.order_page", order_id=o.id))


@bp.get("/orders/<order_id:order_id>")
@login_required
def order_page(order_id: OrderId) -> str:
    queue = services.orders()
    o = queue.find(order_id)
    if o is None:
        abort(404)
    return render_template("order.html", o=o, eta=etas(queue, time.time()).get(o.id))


@bp.get("/images/<order_id:order_id>/<token:token>")
def download(order_id: OrderId, token: str) -> Response:
    queue = services.orders()
    o = queue.find(order_id)
    if o is None or not _same(o.token, token) or o.state is not OrderState.READY or not o.path:
        abort(404)
    path = Path(o.path)
    if not path.resolve().is_relative_to(images_dir(settings_of(current_app).data_dir).resolve()):
        abort(404)
    if not path.is_file():
        abort(404)
    queue.mark_fetched(o.id)
    return send_file(path, as_attachment=True, download_name=path.name, conditional=True)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
