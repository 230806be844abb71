"""`make bench`: run every benchmark module in bench/ and print one result line each."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main() -> int:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]
    only = sys.argv[1:]
    for name in sorted(names):
        if only and name not in only:
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        module.main()
    if not names:
        print("no benchmarks yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
