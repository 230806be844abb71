"""The front page and the template filters every page uses."""

from __future__ import annotations

import time

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from provision.server.auth import is_admin

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Response:
    """Admins land on the host list; anyone else (a booting host, a person) on the picker."""
    return redirect(url_for("hosts.hosts") if is_admin() else url_for("picker.pick"))


@bp.app_template_filter("when")
def when(stamp: float | None) -> str:
    if not stamp:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@bp.app_template_filter("size")
def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
