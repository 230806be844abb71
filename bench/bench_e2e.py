"""Proof by boot, timed: power-on of an empty QEMU machine (TCG, PXE/BIOS) to "installed" for
the vm-amd64 demo profile, the installer's steps (from the events the server recorded), the
first boot from the disk, and the same payload (stage + every binary package of the binhost)
extracted raw with tar on this machine for comparison.

Bounded: the whole run stops after the waits in tests/vm/e2e.py (install ≤ 15 min).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from provision.run import run
from provision.snapshots.read import current_snapshot
from tests.vm.e2e import PROFILE, Machine, e2e_stack

MAC = "52:54:00:e2:eb:01"
INSTALL_TIMEOUT = 900


def raw_extraction(data: Path, work: Path) -> tuple[float, float]:
    """Seconds to untar the stage, and every binhost package's image, into empty dirs."""
    stage = data / "install" / PROFILE / "stage.tar.zst"
    root = work / "raw-stage"
    root.mkdir()
    t0 = time.perf_counter()
    run(["tar", "-C", root, "--numeric-owner", "-xf", stage], timeout=600)
    t1 = time.perf_counter()
    snapshot = current_snapshot(data, PROFILE)
    assert snapshot is not None
    image = work / "raw-packages"
    image.mkdir()
    for n, pkg in enumerate(sorted((snapshot / "binhost").rglob("*.gpkg.tar"))):
        outer = work / f"gpkg-{n}"
        outer.mkdir()
        run(["tar", "-C", outer, "-xf", pkg], timeout=120)
        for inner in outer.glob("*/image.tar.zst"):
            run(["tar", "-C", image, "-xf", inner], timeout=120)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        work = Path(tmp)
        with e2e_stack(work) as stack:
            t = stack.timings
            print(f"setup: build (stage root) {t.build:.0f} s, live env {t.live:.0f} s")
            stack.register(MAC, "bench-1")
            machine = Machine(stack, "bench-pxe-bios", MAC, "bios", "pxe")
            _, install_s = machine.install(INSTALL_TIMEOUT)
            _, events = stack.host(MAC)
            _, boot_s = machine.boot_disk(300)
        steps: dict[str, float] = {}
        last = events[0].time
        for event in events[1:]:
            if event.kind in ("progress", "finish") and event.step:
                steps[event.step] = steps.get(event.step, 0.0) + event.time - last
            last = event.time
        raw_stage, raw_pkgs = raw_extraction(stack.data, work)
    installer = events[-1].time - events[0].time
    print(f"power-on to installed (PXE/BIOS, TCG): {install_s:.0f} s")
    print(f"  installer start to finish: {installer:.0f} s")
    for step, seconds in steps.items():
        print(f"    {step:<12} {seconds:6.1f} s")
    print(f"first boot from disk to marker (TCG): {boot_s:.0f} s")
    print(f"raw extraction on the host: stage {raw_stage:.1f} s, packages {raw_pkgs:.2f} s")
    stage_s = steps.get("stage", 0.0)
    payload_s = steps.get("packages", 0.0) + steps.get("kernel", 0.0)
    if raw_stage and raw_pkgs:
        print(
            f"install vs raw: stage step {stage_s / raw_stage:.0f}x, "
            f"packages+kernel (emerge) {payload_s / raw_pkgs:.0f}x  "
            "(guest under TCG vs host tar)"
        )


if __name__ == "__main__":
    main()
