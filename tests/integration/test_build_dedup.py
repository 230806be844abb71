"""Issue 4, dedup: desktop and laptop share their build state; laptop reuses desktop's signed
packages (one file, two snapshots) but builds its own kernel (different config fragments)."""

from __future__ import annotations

import json
from pathlib import Path

from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot
from provision.snapshots.verify import read_index
from tests.integration.build_fixtures import provision


def test_two_profiles_build_shared_packages_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        provision(data, "build", "desktop-amd64", "laptop-amd64")
        state = json.loads(DataLayout(data).state_file("laptop-amd64").read_text())
        assert state["built"] == ["sys-kernel/demo-kernel-6.1.0"]
        assert (
            "app-misc/greeter-1.0" in state["reused"] and "dev-libs/libgreet-1.0" in state["reused"]
        )

        desktop, laptop = (
            current_snapshot(data, "desktop-amd64"),
            current_snapshot(data, "laptop-amd64"),
        )
        assert desktop is not None and laptop is not None
        d_index, l_index = read_index(desktop / "binhost"), read_index(laptop / "binhost")
        assert d_index.cpvs() == l_index.cpvs()
        shared = 0
        for entry in l_index.entries:
            same = (laptop / "binhost" / entry["PATH"]).stat().st_ino == (
                desktop / "binhost" / entry["PATH"]
            ).stat().st_ino
            assert same == (entry["CPV"] != "sys-kernel/demo-kernel-6.1.0"), entry["CPV"]
            shared += same
        published = len(d_index.entries) + len(l_index.entries)
        builds = published - shared
        assert builds < published and shared == len(l_index.entries) - 1
    finally:
        stop_agents(data / "keys")
