"""CLI start-up: `provision --help` and `provision status` against `python3 -c pass` (the same
interpreter), medians of 15 runs each; goal: at most 4x the bare interpreter."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Row

RUNS = 15
GOAL = 4.0


def run_time(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        data = Path(tmp)
        py = [sys.executable]
        cli = [*py, "-m", "provision", "--data-dir", str(data)]
        cli += ["--profiles-dir", str(ROOT / "profiles")]
        subprocess.run([*cli, "status"], cwd=ROOT, check=True, capture_output=True)
        # interleaved, so that load from elsewhere hits all three alike
        base, helps, status = [], [], []
        for _ in range(3):
            base.append(run_time([*py, "-c", "pass"]))
            helps.append(run_time([*py, "-m", "provision", "--help"]))
            status.append(run_time([*cli, "status"]))
    b, h, s = (statistics.median(x) for x in (base, helps, status))
    print(f"python3 -c pass {b * 1000:.0f} ms, provision --help {h * 1000:.0f} ms, "
          f"provision status {s * 1000:.0f} ms")  # fmt: skip
    peer = f"`python3 -c pass` {b * 1000:.0f} ms"
    return [
        Row("`provision --help` start-up", f"{h * 1000:.0f} ms", peer, h / b, f"<= {GOAL:g}x",
            h / b <= GOAL),
        Row("`provision status` start-up", f"{s * 1000:.0f} ms", peer, s / b, f"<= {GOAL:g}x",
            s / b <= GOAL),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
