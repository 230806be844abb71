"""Image orders: the queue, its config, expiry, the worker and the install-bundle tarball."""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import ConfigError, NotFound
from provision.profiles import ProfileSet
from provision.server.images import (
    ImageMaker,
    OrderWorker,
    bundle_files,
    download_link,
    ready_mail,
)
from provision.server.orders import (
    Order,
    OrderConfig,
    OrderKind,
    OrderQueue,
    OrderState,
    etas,
    parse_config,
    select_expired,
    sweep,
)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[OrderQueue]:
    q = OrderQueue(tmp_path / "db.sqlite")
    yield q
    q.close()


def _order(**kw: object) -> Order:
    base = Order(
        1, "p", OrderKind.ISO, "", OrderState.READY, 0.0, 0.0, 0.0, None, "/x", 1, "", 1.0, "t"
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_queue_lifecycle(queue: OrderQueue, tmp_path: Path) -> None:
    a = queue.create("desktop-amd64", "iso", "a@example.org")
    b = queue.create("server-amd64", "tarball")
    assert (a.state, b.state) == (OrderState.QUEUED, OrderState.QUEUED)
    assert a.token and a.token != b.token
    claimed = queue.claim_next()
    assert claimed is not None and claimed.id == a.id and claimed.state is OrderState.BUILDING
    assert [o.id for o in queue.active()] == [a.id, b.id]  # the building one first
    img = tmp_path / "a.iso"
    img.write_bytes(b"x" * 10)
    done = queue.finish(a.id, img)
    assert (done.state, done.size, done.progress) == (OrderState.READY, 10, 1.0)
    assert queue.durations("iso") == [pytest.approx(done.finished - done.started)]  # type: ignore[operator]
    claimed = queue.claim_next()
    assert claimed is not None and claimed.id == b.id
    failed = queue.fail(b.id, "boom")
    assert failed.state is OrderState.FAILED and failed.error == "boom"
    assert queue.claim_next() is None
    with pytest.raises(NotFound):
        queue.get(999)


def test_requeue_after_crash(queue: OrderQueue) -> None:
    o = queue.create("p", "iso")
    queue.claim_next()
    assert queue.requeue_interrupted() == 1
    assert queue.get(o.id).state is OrderState.QUEUED


@pytest.mark.parametrize(
    ("kind", "email", "match"),
    [
        pytest.param("dvd", "", "not an image kind", id="kind"),
        pytest.param("iso", "not-an-address", "not an e-mail", id="email"),
        pytest.param("iso", "a@b.c<script>", "not an e-mail", id="email-html"),
    ],
)
def test_create_validates(queue: OrderQueue, kind: str, email: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        queue.create("p", kind, email)
    assert queue.all() == []


def test_etas_from_history(queue: OrderQueue, tmp_path: Path) -> None:
    first = queue.create("p", "tarball")
    queue.claim_next()
    img = tmp_path / "t"
    img.write_bytes(b"")
    queue.finish(first.id, img)
    waiting = queue.create("p", "tarball")
    predicted = etas(queue, time.time())
    assert set(predicted) == {waiting.id}
    assert predicted[waiting.id] < 5  # the one past tarball took milliseconds


@pytest.mark.parametrize(
    ("order", "expired"),
    [
        pytest.param(_order(finished=0.0), True, id="unfetched-old"),
        pytest.param(_order(finished=90_000.0), False, id="unfetched-recent"),
        pytest.param(_order(finished=0.0, fetched=90_000.0), False, id="fetched-recently"),
        pytest.param(_order(finished=0.0, fetched=1.0), True, id="fetched-long-ago"),
        pytest.param(_order(state=OrderState.QUEUED, finished=None), False, id="queued"),
        pytest.param(_order(state=OrderState.FAILED), False, id="failed"),
    ],
)
def test_select_expired(order: Order, expired: bool) -> None:
    cfg = OrderConfig(keep_unfetched_hours=24, keep_fetched_hours=24)
    assert select_expired([order], now=100_000.0, config=cfg) == ([1] if expired else [])


def test_sweep_deletes_files(queue: OrderQueue, tmp_path: Path) -> None:
    o = queue.create("p", "iso")
    queue.claim_next()
    img = tmp_path / "old.iso"
    img.write_bytes(b"iso")
    queue.finish(o.id, img)
    assert sweep(queue, time.time(), OrderConfig()) == []
    assert img.exists()
    assert sweep(queue, time.time() + 73 * 3600, OrderConfig()) == [o.id]
    assert not img.exists() and queue.get(o.id).state is OrderState.EXPIRED


def test_parse_config() -> None:
    cfg = parse_config('smtp_host = "127.0.0.1"\nsmtp_port = 2525\nkeep_unfetched_hours = 1\n', "o")
    assert (cfg.smtp_host, cfg.smtp_port, cfg.keep_unfetched_hours) == ("127.0.0.1", 2525, 1.0)
    with pytest.raises(ConfigError, match="o: colour: unknown key"):
        parse_config("colour = 1", "o")
    with pytest.raises(ConfigError, match="smtp_port: expected a number"):
        parse_config('smtp_port = "25"', "o")
    with pytest.raises(ConfigError, match="smtp_port: expected a port"):
        parse_config("smtp_port = 70000", "o")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("= =", "o")


def test_bundle_and_tarball(tmp_path: Path, profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    files = bundle_files(profile, "http://srv:8080/")
    assert files["provision.conf"] == "server = http://srv:8080\nprofile = server-amd64\n"
    assert (
        "sync-uri = http://srv:8080/binhost/server-amd64"
        in files["etc/portage/binrepos.conf/provision.conf"]
    )
    snap = tmp_path / "data" / "snapshots" / "server-amd64" / "s1"
    (snap / "binhost").mkdir(parents=True)
    (snap / "binhost" / "Packages").write_text("PACKAGES: 0\n")
    (snap.parent / "current").symlink_to("s1")
    queue = OrderQueue(tmp_path / "db.sqlite")
    try:
        order = queue.create("server-amd64", "tarball", "x@example.org")
        assert order.email == "x@example.org"
        worker = OrderWorker(
            queue,
            ImageMaker(tmp_path / "data", profiles_dir, "http://srv:8080"),
            tmp_path / "images",
            OrderConfig(),  # no smtp_host: no mail is attempted
            "http://srv:8080",
        )
        done = worker.run_once()
        assert done is not None and done.state is OrderState.READY, done
        with tarfile.open(done.path) as tar:
            names = tar.getnames()
            conf = tar.extractfile("server-amd64-bundle/provision.conf")
            assert conf is not None and b"profile = server-amd64" in conf.read()
        assert "server-amd64-bundle/snapshot/binhost/Packages" in names
        assert "server-amd64-bundle/profiles/server-amd64.toml" in names
        assert "server-amd64-bundle/etc/portage/make.conf" in names
        assert worker.run_once() is None  # queue empty
        bad = queue.create("no-such-profile", "tarball")
        failed = worker.run_once()
        assert failed is not None and failed.id == bad.id and failed.state is OrderState.FAILED
        assert "unknown profile" in failed.error
    finally:
        queue.close()


def test_ready_mail() -> None:
    order = _order(email="a@example.org", profile="desktop-amd64", token="tok")
    link = download_link("http://srv:8080/", order)
    assert link == "http://srv:8080/images/1/tok"
    msg = ready_mail(order, link, "provision@srv")
    assert msg["To"] == "a@example.org" and "desktop-amd64 is ready" in msg["Subject"]
    assert link in msg.get_content()
