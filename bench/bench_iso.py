"""`provision iso` against `xorriso -as mkisofs -R -J` on the same generated tree.

Build time and peak memory (max RSS of the child, from wait4) for: a per-host image without a
snapshot (the ESP base cached), and offline images carrying a ~100 MB and a ~300 MB snapshot
(large packages plus 2,000 small files), each compared with xorriso writing the same tree.
Everything lives in one temp dir under /tmp, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from provision.live.initramfs import make_marker_bootkit
from provision.run import run

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
SERVER = "http://192.0.2.1:8080"


@dataclass(frozen=True)
class Measure:
    seconds: float
    max_rss_mib: float
    size_mib: float


def measure(argv: list[str], out: Path) -> Measure:
    """Run argv as a child; wall time and its own peak RSS (not the benchmark's)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {err[-500:]}")
    size = out.stat().st_size / MIB
    out.unlink()
    return Measure(elapsed, usage.ru_maxrss / 1024, size)


def make_tree(root: Path, big_files: int, big_mib: int, small_files: int) -> int:
    """binhost/ with big 'packages' and many 4 KiB files in category/package dirs; bytes."""
    block = os.urandom(MIB)
    total = 0
    for i in range(big_files):
        d = root / "binhost" / f"cat-{i % 6}" / f"big{i}"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"big{i}-1.0-1.gpkg.tar", "wb") as fh:
            for _ in range(big_mib):
                fh.write(block)
        total += big_mib * MIB
    for i in range(small_files):
        d = root / "binhost" / f"cat-{i % 20}" / f"pkg{i // 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"pkg{i // 10}-{i % 10}.0-1.gpkg.tar").write_bytes(block[i : i + 4096])
        total += 4096
    return total


def make_data(data: Path) -> None:
    make_marker_bootkit(data / "live")
    home = Path(tempfile.mkdtemp(prefix="iso-bench-gpg-"))
    try:
        gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty"]
        run(
            [
                *gpg,
                "--passphrase",
                "",
                "--quick-gen-key",
                "bench <b@example.org>",
                "ed25519",
                "sign",
                "never",
            ]
        )
        key = run([*gpg, "--armor", "--export"]).stdout
    finally:
        run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    (data / "keys").mkdir(parents=True)
    (data / "keys" / "public.asc").write_text(key)


def provision_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "provision",
        "--data-dir",
        str(data),
        "--profiles-dir",
        str(ROOT / "profiles"),
        "iso",
        "desktop-amd64",
        "--server",
        SERVER,
        "-o",
        str(out),
        *extra,
    ]


def row(name: str, m: Measure) -> None:
    print(
        f"  {name:42} {m.seconds:7.2f} s  max RSS {m.max_rss_mib:7.1f} MiB  "
        f"image {m.size_mib:7.1f} MiB",
        flush=True,
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="iso-bench-", dir="/tmp"))
    try:
        data = work / "data"
        make_data(data)
        out = work / "out.iso"
        first = measure(provision_argv(data, out), out)  # builds and caches the ESP
        row("provision iso (first: builds the ESP)", first)
        row(
            "provision iso --host (base cached)",
            measure(provision_argv(data, out, "--host", "52:54:00:00:00:01"), out),
        )
        for label, big, mib, small in (("~100 MB", 8, 12, 2000), ("~300 MB", 24, 12, 2000)):
            snap = work / f"snap-{big}"
            size = make_tree(snap, big, mib, small)
            print(f"tree {label}: {size / MIB:.0f} MiB in {big + small} files", flush=True)
            p = measure(provision_argv(data, out, "--offline-from", str(snap)), out)
            row("provision iso --offline-from TREE", p)
            x = measure(
                ["xorriso", "-as", "mkisofs", "-R", "-J", "-quiet", "-o", str(out), str(snap)], out
            )
            row("xorriso -as mkisofs -R -J TREE", x)
            print(
                f"  ratio provision/xorriso: time {p.seconds / x.seconds:.2f}x, "
                f"max RSS {p.max_rss_mib / x.max_rss_mib:.2f}x",
                flush=True,
            )
            shutil.rmtree(snap)
        print(
            "  (the provision image also holds kernel, initrd, bootloaders and ESP: "
            f"{first.size_mib:.0f} MiB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
