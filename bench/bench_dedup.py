"""Dedup across profiles: build desktop-amd64 and laptop-amd64 (same build state, different USE
and kernel fragments) and report builds performed vs packages published."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.verify import read_index

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("desktop-amd64", "laptop-amd64")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        data = Path(tmp) / "data"
        argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
        argv += ["--profiles-dir", str(ROOT / "profiles"), "build", *PROFILES]
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        layout = DataLayout(data)
        built = published = 0
        for name in PROFILES:
            state = json.loads(layout.state_file(name).read_text())
            built += len(state["built"])
            published += len(read_index(layout.current_link(name) / "binhost").entries)
        stop_agents(layout.keys)
    print(f"profiles: {', '.join(PROFILES)}; {seconds:.1f} s")
    print(
        f"builds performed {built}, packages published {published}: ratio {built / published:.2f}"
    )
