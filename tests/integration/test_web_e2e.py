"""The web UI end to end: `provision serve` in a subprocess, Debian's headless Chromium driven by
Playwright, a real SMTP server (aiosmtpd) on loopback.

Log in, assign a profile to a host, watch the installer's events arrive on the host page, order
an ISO (made by the real ISO maker) and receive the mail with its download link.  Screenshots go
to test-artifacts/web/.
"""

from __future__ import annotations

import email
import json
import re
import shutil
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, sync_playwright

from provision.live.initramfs import make_marker_bootkit
from provision.run import run
from tests.conftest import ROOT
from tests.integration.serve_fixture import Server, server_data, start_serve

pytestmark = pytest.mark.integration
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "e2e-admin-password"
MAC = "52:54:00:ab:cd:ef"


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        self.arrived.set()
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def public_key(data: Path) -> None:
    """A real OpenPGP public key where the ISO maker looks for it."""
    home = Path(tempfile.mkdtemp(prefix="web-gpg-"))  # short: gpg-agent's socket path
    try:
        gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty"]
        uid = "web <web@example.org>"
        run([*gpg, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"])
        key = run([*gpg, "--armor", "--export"]).stdout
    finally:
        run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    (data / "keys").mkdir(parents=True, exist_ok=True)
    (data / "keys" / "public.asc").write_text(key)


def api(url: str, method: str = "GET", body: Any = None, token: str = "") -> Any:
    req = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None
    )
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def server(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Server]:
    data = tmp_path / "data"
    make_marker_bootkit(data / "live")
    public_key(data)
    server_data(data, PASSWORD)
    (data / "orders.toml").write_text(
        f'smtp_host = "127.0.0.1"\nsmtp_port = {mailbox[1]}\nmail_from = "provision@localhost"\n'
    )
    srv = start_serve(data)
    yield srv
    rc = srv.stop()
    assert rc == 0, "".join(srv.output)
    assert "provision: stopping" in "".join(srv.output)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_web_end_to_end(server: Server, mailbox: tuple[Mailbox, int], tmp_path: Path) -> None:
    box, _ = mailbox
    base = server.url
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            # 1. anonymous → login page; a wrong password is refused
            page.goto(f"{base}/hosts")
            assert "/login" in page.url
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit]")
            assert "Wrong password" in page.content()
            page.fill("input[name=password]", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/hosts")
            shot(page, "01-hosts-empty")

            # 2. assign a profile to a host in the picker
            page.goto(f"{base}/picker?mac={MAC}")
            page.check("input[name=profile][value=laptop-amd64]")
            page.fill("input[name=hostname]", "lap1")
            shot(page, "02-picker")
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/hosts/{MAC}")
            assert page.inner_text("#host-profile") == "laptop-amd64"

            # 3. the installer reports; the open page shows the events as they arrive
            token = api(f"{base}/api/v1/auth/token", "POST", {"password": PASSWORD})["token"]
            host = api(f"{base}/api/v1/hosts/{MAC}", token=token)["host"]
            events = f"{base}/api/v1/hosts/{MAC}/events"
            api(events, "POST", {"kind": "start", "step": "partition"}, host["token"])
            page.wait_for_selector("ol#events li.kind-start")
            assert page.inner_text("[data-bind=host-state]") == "installing"
            api(
                events,
                "POST",
                {"kind": "progress", "step": "packages", "progress": 0.5, "log_tail": "emerge 3/6"},
                host["token"],
            )
            page.wait_for_selector("ol#events pre:has-text('emerge 3/6')")
            api(events, "POST", {"kind": "finish", "step": "finalize"}, host["token"])
            page.wait_for_selector("ol#events li.kind-finish")
            # boot-once: the open page follows the host to "local disk"
            page.wait_for_selector("[data-bind=next-boot]:has-text('local disk')")
            page.wait_for_selector("[data-bind=host-state]:has-text('installed')")
            shot(page, "03-host-events")

            # 4. order an ISO; the page follows its progress; a mail brings the link
            page.goto(f"{base}/orders")
            page.select_option("select[name=profile]", "laptop-amd64")
            page.select_option("select[name=kind]", "iso")
            page.fill("input[name=email]", "admin@example.org")
            page.click("main form button[type=submit]")
            page.wait_for_url(re.compile(r".*/orders/\d+$"))
            shot(page, "04-order-queued")
            page.wait_for_selector("#order-state:has-text('ready')", timeout=240_000)
            shot(page, "05-order-ready")
            assert box.arrived.wait(60), "no mail arrived"
        finally:
            context.close()
    msg = box.messages[0]
    assert msg["To"] == "admin@example.org"
    assert "iso for laptop-amd64 is ready" in msg["Subject"]
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    m = re.search(rf"{re.escape(base)}/images/\d+/\S+", payload.decode())
    assert m, payload
    with urllib.request.urlopen(m.group(0), timeout=60) as resp:
        iso = resp.read()
    assert iso[0x8001:0x8006] == b"CD001", "not an ISO 9660 image"
    assert len(iso) > 1_000_000
    order = api(f"{base}/api/v1/orders", token=token)["orders"][0]
    assert order["state"] == "ready" and order["fetched"] is not None


def test_audit_log_in_the_browser(tmp_path: Path) -> None:
    """A failed login, a login and a host added show on the audit page (who, what, from
    where); "Log out everywhere" ends the session, and the cookie no longer opens a page."""
    data = tmp_path / "data"
    server_data(data, PASSWORD, fast_hash=True)
    srv = start_serve(data)
    base = srv.url
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{base}/login")
                page.fill("input[name=password]", "a wrong guess")
                page.click("main button[type=submit]")
                assert "Wrong password" in page.content()
                page.fill("input[name=password]", PASSWORD)
                page.click("main button[type=submit]")
                page.wait_for_url(f"{base}/hosts")
                page.fill("main input[name=mac]", MAC)
                page.fill("main input[name=hostname]", "audited1")
                page.click("main form button[type=submit]")
                page.wait_for_url(f"{base}/hosts/{MAC}")

                page.click("header a:has-text('Audit log')")
                page.wait_for_url(f"{base}/audit")
                rows = page.locator("table#audit tbody tr")
                texts = [rows.nth(i).inner_text() for i in range(rows.count())]
                assert [t.split("\t")[2] for t in texts] == ["host-add", "login", "login-failed"]
                assert "127.0.0.1" in texts[0] and MAC in texts[0]
                assert texts[0].split("\t")[1].startswith("admin (web:")
                assert texts[2].split("\t")[1] == "anonymous"
                assert page.locator("tr.audit-login-failed.audit-failed").count() == 1
                shot(page, "06-audit-log")

                cookies = context.cookies()
                page.click("#logout-all")
                page.wait_for_url(re.compile(r".*/login$"))
                replay: Any = cookies  # the same cookies, put back: a replay
                context.add_cookies(replay)
                page.goto(f"{base}/hosts")
                assert "/login" in page.url
            finally:
                context.close()
    finally:
        rc = srv.stop()
    assert rc == 0, "".join(srv.output)
