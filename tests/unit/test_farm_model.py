"""The farm's pure parts: names, routing, the upload manifest, k-of-n decisions, Celery's
settings, build.toml's farm keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provision.builder.settings import FarmTuning, check_broker, parse_settings
from provision.errors import ConfigError
from provision.farm.celeryapp import celery_config
from provision.farm.kofn import PackageDigest, Upload, Verdict, decide, flags
from provision.farm.model import (
    WorkerView,
    parse_manifest,
    parse_slot_id,
    profile_queue,
    route,
    slot_id,
    upload_path,
    worker_name,
    worker_queue,
)

PASS = "20261201T104016Z-f0512f"
SHA = "a" * 64


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("W1", id="upper"),
        pytest.param("-w", id="dash-first"),
        pytest.param("w1\n", id="newline"),
        pytest.param("x" * 33, id="too-long"),
        pytest.param("w.1", id="dot"),
        pytest.param(7, id="not-a-string"),
    ],
)
def test_bad_worker_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigError):
        worker_name(name)


def test_slot_ids_round_trip_and_refuse_garbage() -> None:
    assert parse_slot_id(slot_id(PASS, 3)) == (PASS, 3)
    for bad in (f"{PASS}.0", f"{PASS}.100", f"{PASS}.1\n", "../x.1", PASS):
        with pytest.raises(ConfigError):
            parse_slot_id(bad)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("../x/y.gpkg.tar", id="dotdot"),
        pytest.param("/app/x/x.gpkg.tar", id="absolute"),
        pytest.param("app/x/.x.gpkg.tar", id="hidden"),
        pytest.param("app/x/x.tbz2", id="not-gpkg"),
        pytest.param("app/x.gpkg.tar", id="flat"),
        pytest.param("Packages.gz", id="other-index"),
    ],
)
def test_only_packages_index_and_log_are_uploadable(path: str) -> None:
    with pytest.raises(ConfigError):
        upload_path(path)
    assert upload_path("app-misc/hello/hello-1.0-1.gpkg.tar")


def views(*specs: tuple[str, bool, bool, tuple[str, ...]]) -> list[WorkerView]:
    return [
        WorkerView(name, live, (), busy, (worker_queue(name), profile_queue("p"), *queues))
        for name, live, busy, queues in specs
    ]


def test_route_prefers_the_idle_last_builder_then_the_profile_queue() -> None:
    workers = views(("w1", True, False, ()), ("w2", True, False, ()))
    assert route("p", 1, workers, last_builder="w2") == "worker.w2"
    busy = views(("w1", True, False, ()), ("w2", True, True, ()))
    assert route("p", 1, busy, last_builder="w2") == "profile.p"
    dead = views(("w1", True, False, ()), ("w2", False, False, ()))
    assert route("p", 1, dead, last_builder="w2") == "profile.p"
    assert route("p", 1, [], last_builder="w2") == "profile.p"  # waits for a worker


def test_route_sends_verification_slots_to_other_workers() -> None:
    workers = views(("w1", True, False, ()), ("w2", True, True, ()), ("w3", True, False, ()))
    assert route("p", 2, workers, taken={"w1"}) == "worker.w3"  # idle first
    assert route("p", 2, workers, taken={"w1", "w3"}) == "worker.w2"
    assert route("p", 2, workers, taken={"w1", "w2", "w3"}) == ""


def test_route_finds_a_worker_that_serves_but_does_not_consume_the_profile_queue() -> None:
    late = [WorkerView("w1", True, (), False, ("worker.w1",))]  # started before p existed
    assert route("p", 1, late) == "worker.w1"
    pinned = [WorkerView("w1", True, ("other",), False, ("worker.w1", "profile.other"))]
    assert route("p", 1, pinned) == "profile.p"  # nobody serves p: it waits


def manifest(**outcome: Any) -> dict[str, Any]:
    return {
        "files": [
            {"path": "Packages", "size": 10, "sha256": SHA},
            {"path": "app-misc/hello/hello-1.0-1.gpkg.tar", "size": 20480, "sha256": SHA},
        ],
        "outcome": {"ok": True, "seconds": 3.5, **outcome},
    }


def test_a_manifest_round_trips() -> None:
    m = parse_manifest(manifest(built=["app-misc/hello-1.0"], eprefix="/var/w"))
    assert parse_manifest(m.as_dict()) == m
    assert [f.path for f in m.packages()] == ["app-misc/hello/hello-1.0-1.gpkg.tar"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"files": []}, id="no-files"),
        pytest.param({"files": [{"path": "Packages", "size": -1, "sha256": SHA}]}, id="size"),
        pytest.param({"files": [{"path": "Packages", "size": 1, "sha256": "x"}]}, id="sha"),
        pytest.param({"files": [{"path": "Packages", "size": True, "sha256": SHA}]}, id="bool"),
        pytest.param({"files": [{"path": "log", "size": 1, "sha256": SHA}] * 2}, id="listed-twice"),
        pytest.param({"outcome": {"ok": "yes"}}, id="ok-not-bool"),
        pytest.param({"outcome": {"ok": True, "eprefix": "relative"}}, id="eprefix"),
        pytest.param({"outcome": {"ok": True, "error": "x" * 20000}}, id="long-error"),
        pytest.param(
            {"files": [{"path": "log", "size": 1, "sha256": SHA}]}, id="success-without-index"
        ),
    ],
)
def test_bad_manifests_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_manifest({**manifest(), **change})


def pkg(cpv: str, content: str) -> PackageDigest:
    return PackageDigest(cpv, "state", content)


def history(*entries: tuple[str, str, set[str]]) -> dict[tuple[str, str], dict[str, set[str]]]:
    out: dict[tuple[str, str], dict[str, set[str]]] = {}
    for cpv, content, workers in entries:
        out.setdefault((cpv, "state"), {})[content] = workers
    return out


def test_k_of_n_publishes_the_upload_enough_workers_agree_on() -> None:
    ups = [Upload("p.1", "w3", (pkg("a/b-1", "bad"),)), Upload("p.2", "w1", (pkg("a/b-1", "ok"),))]
    hist = history(("a/b-1", "ok", {"w1", "w2"}), ("a/b-1", "bad", {"w3"}))
    d = decide(2, ups, hist, building=0, can_ask_more=False)
    assert d.verdict is Verdict.PUBLISH and d.slot == "p.2" and d.counts == {"a/b-1": 2}
    assert set(d.flagged) == {"w3"} and "a/b-1" in d.flagged["w3"]


def test_k_of_n_waits_asks_another_worker_then_fails_naming_who_differs() -> None:
    ups = [Upload("p.1", "w1", (pkg("a/b-1", "x"),)), Upload("p.2", "w3", (pkg("a/b-1", "y"),))]
    hist = history(("a/b-1", "x", {"w1"}), ("a/b-1", "y", {"w3"}))
    assert decide(2, ups, hist, building=1, can_ask_more=True).verdict is Verdict.WAIT
    assert decide(2, ups, hist, building=0, can_ask_more=True).verdict is Verdict.MORE
    d = decide(2, ups, hist, building=0, can_ask_more=False)
    assert d.verdict is Verdict.FAIL
    assert d.reason.startswith("k-of-n: a/b-1 has 1 agreeing build of the 2 required;")
    assert set(d.flagged) == {"w1", "w3"}  # a tie: both are suspect


def test_earlier_verifications_count() -> None:
    ups = [Upload("p.1", "w1", (pkg("a/b-1", "x"),))]
    hist = history(("a/b-1", "x", {"w1", "w2"}))  # w2 built the same content last week
    assert decide(2, ups, hist, building=1, can_ask_more=True).verdict is Verdict.PUBLISH
    assert flags(hist, ups) == {}


def test_celery_is_configured_for_long_passes() -> None:
    conf = celery_config("redis://h:6379/0", FarmTuning(visibility_timeout=7200))
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"]["visibility_timeout"] == 7200
    assert conf["accept_content"] == ["json"] and conf["result_backend"] is None
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is False


def test_build_toml_farm_keys() -> None:
    text = (
        'broker = "redis://10.0.0.2:6379/0"\nrequire_verifications = 2\n'
        "[farm]\nlease_ttl = 30\n[profile.a]\nrequire_verifications = 3\n"
    )
    s = parse_settings(text, "build.toml", Path("/"))
    assert s.broker == "redis://10.0.0.2:6379/0" and s.farm.lease_ttl == 30
    assert s.verifications_for("a") == 3 and s.verifications_for("b") == 2


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('broker = "amqp://h"', id="not-redis"),
        pytest.param('broker = "redis://h:6379/0 --x"', id="blank"),
        pytest.param("require_verifications = 0", id="zero"),
        pytest.param("require_verifications = 17", id="too-many"),
        pytest.param("[farm]\nlease_ttl = 0", id="ttl"),
        pytest.param("[farm]\nvisibility_timeout = 10", id="vt"),
        pytest.param("[farm]\nspeed = 1", id="unknown"),
        pytest.param('[profile.a]\nrequire_verifications = "2"', id="string"),
    ],
)
def test_bad_farm_settings_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_settings(text, "build.toml", Path("/"))
    with pytest.raises(ConfigError):
        check_broker("redis://h/0\n")
