"""The web UI follows an install live: the host list and the host page carry the latest
progress the installer reported (a progress bar), and the list's JSON has it for polling."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from provision.hosts import EventKind
from provision.server import services
from tests.webapp import MAC


def test_progress_in_list_page_and_api(app: Flask, admin: FlaskClient) -> None:
    with app.app_context():
        store = services.store(app)
        store.upsert_host(MAC, profile="vm-amd64", hostname="demo-vm")
        store.upsert_host("52:54:00:00:00:02")
        store.add_event(MAC, EventKind.START, message="go")
        store.add_event(MAC, EventKind.PROGRESS, step="partition", progress=0.0)
        store.add_event(MAC, EventKind.PROGRESS, step="stage", progress=0.3)
        store.add_event(MAC, EventKind.LOG, step="stage", message="downloading")
    page = admin.get("/hosts").get_data(as_text=True)
    assert 'data-hosts-poll="/api/v1/hosts"' in page
    assert f'<tr data-mac="{MAC}">' in page
    assert 'value="0.3" data-bind="host-progress"' in page
    hosts = {h["mac"]: h for h in admin.get("/api/v1/hosts").json["hosts"]}  # type: ignore[index]
    assert hosts[MAC]["progress"] == 0.3 and hosts[MAC]["step"] == "stage"
    assert hosts["52:54:00:00:00:02"]["progress"] is None
    host = admin.get(f"/hosts/{MAC}").get_data(as_text=True)
    assert 'id="host-progress" max="1" value="0.3"' in host
    assert "30% · stage" in host
