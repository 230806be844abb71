"""`make bench`: run every benchmark module in bench/ (`python -m bench [bench_x ...]`).

A module's main() prints its own lines and may return rows (bench.common.Row): project / peer /
ratio against the goal.  All rows are printed again at the end as one table, and written to
bench/results/summary.md.
"""

from __future__ import annotations

import compileall
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import bench
from bench.common import Row

HEADER = "| work | project | peer | ratio | goal | verdict |\n|---|---|---|---|---|---|"


def main() -> int:
    # Measure the code as installed: pip compiles a package's bytecode when it installs it,
    # while a checkout run with PYTHONDONTWRITEBYTECODE=1 would compile every module again in
    # every process it starts (tens of ms of each CLI run).
    root = Path(__file__).resolve().parent.parent
    compileall.compile_dir(root / "provision", quiet=1)
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]
    only = sys.argv[1:]
    rows: list[Row] = []
    failed: list[str] = []
    for name in sorted(names):
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        start = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            rows += module.main() or []
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"   ({time.monotonic() - start:.0f} s)", flush=True)
    if not names:
        print("no benchmarks yet")
    if rows:
        table = "\n".join([HEADER, *(r.line() for r in rows)])
        print("\n== summary (medians of 3, peers measured in this run)\n" + table)
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "summary.md").write_text(table + "\n")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}")
    return 1 if failed or any(not r.ok for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
