"""`provision iso` against xorriso on the same trees.

Build time and peak memory (max RSS of the child, from wait4), medians of 3:
- a per-host image, whole process (`provision iso P --host MAC`, the profile's base cached)
  against xorriso writing the same files as a BIOS+UEFI hybrid (`-b isolinux/isolinux.bin ...
  -e boot/efi.img ... -isohybrid-mbr isohdpfx.bin -isohybrid-gpt-basdat`);
- offline images carrying a ~100 MB and a ~300 MB snapshot (large packages plus 2,000 small
  files) against `xorriso -as mkisofs -R -J` on the snapshot tree.
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

from bench.common import Row
from provision.iso.build import IsoRequest, plan_request
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


def interleaved(
    ours: list[str], peer: list[str], out: Path, runs: int = 5
) -> tuple[Measure, Measure]:
    """Medians of runs taking turns (load from elsewhere falls on both alike)."""
    a, b = [], []
    for _ in range(runs):
        a.append(measure(ours, out))
        b.append(measure(peer, out))

    def mid(ms: list[Measure]) -> Measure:
        m = sorted(ms, key=lambda x: x.seconds)[len(ms) // 2]
        return Measure(m.seconds, max(x.max_rss_mib for x in ms), m.size_mib)

    return mid(a), mid(b)


ISOHDPFX = "/usr/lib/ISOLINUX/isohdpfx.bin"


def same_tree(data: Path, tree: Path) -> None:
    """The files of a per-host medium (as `provision iso --host` plans it) laid out as a tree,
    for xorriso."""
    plan = plan_request(
        IsoRequest(data, ROOT / "profiles", "desktop-amd64", tree.parent / "x.iso", server=SERVER)
    )
    for f in plan.files:
        dest = tree / f.where.posix
        dest.parent.mkdir(parents=True, exist_ok=True)
        if f.source is not None:
            shutil.copyfile(f.source, dest)
        else:
            dest.write_bytes(f.data or b"")


def xorriso_hybrid(tree: Path, out: Path) -> list[str]:
    return [
        "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(out),
        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
        "-boot-load-size", "4", "-boot-info-table",
        "-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot",
        "-isohybrid-mbr", ISOHDPFX, "-isohybrid-gpt-basdat", str(tree),
    ]  # fmt: skip


def measure(argv: list[str], out: Path) -> Measure:
    """Run argv as a child; wall time and its own peak RSS.  GNU time forks and reports it:
    a child forked (or spawned) straight from this process would carry this process's peak
    into its own ru_maxrss (the kernel records the old address space's high-water mark at
    exec), whatever the program itself used."""
    with tempfile.NamedTemporaryFile(prefix="rss-") as rss, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
            stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - start
        err.seek(0)
        if proc.returncode != 0:
            message = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {message}")
        max_rss_kib = int(Path(rss.name).read_text().split()[-1])
    size = out.stat().st_size / MIB
    out.unlink()
    # untimed: write back what this run left dirty, so that the next run (ours fsyncs the
    # image it writes, xorriso does not) never pays for the previous one's data
    os.sync()
    return Measure(elapsed, max_rss_kib / 1024, size)


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


def main() -> list[Row]:
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="iso-bench-", dir="/tmp"))
    try:
        data = work / "data"
        make_data(data)
        out = work / "out.iso"
        first = measure(provision_argv(data, out), out)  # builds and caches the ESP
        row("provision iso (first: builds the ESP)", first)
        host = ("--host", "52:54:00:00:00:01")
        measure(provision_argv(data, out, *host), out)  # makes the profile's base
        tree = work / "tree"
        same_tree(data, tree)
        ours, peer = interleaved(provision_argv(data, out, *host), xorriso_hybrid(tree, out), out)
        row("provision iso --host (base cached)", ours)
        row("xorriso, same files, BIOS+UEFI hybrid", peer)
        shutil.rmtree(tree)
        ratio = ours.seconds / peer.seconds
        rows.append(
            Row(
                "per-host ISO, whole process",
                f"{ours.seconds:.3f} s",
                f"xorriso, same files, BIOS+UEFI hybrid: {peer.seconds:.3f} s",
                ratio,
                "<= 1.5x",
                ratio <= 1.5,
            )
        )
        for label, big, mib, small in (("~100 MB", 8, 12, 2000), ("~300 MB", 24, 12, 2000)):
            snap = work / f"snap-{big}"
            size = make_tree(snap, big, mib, small)
            print(f"tree {label}: {size / MIB:.0f} MiB in {big + small} files", flush=True)
            p, x = interleaved(
                provision_argv(data, out, "--offline-from", str(snap)),
                ["xorriso", "-as", "mkisofs", "-R", "-J", "-quiet", "-o", str(out), str(snap)],
                out,
                runs=3,
            )
            row("provision iso --offline-from TREE", p)
            row("xorriso -as mkisofs -R -J TREE", x)
            t, m = p.seconds / x.seconds, p.max_rss_mib / x.max_rss_mib
            print(f"  ratio provision/xorriso: time {t:.2f}x, max RSS {m:.2f}x", flush=True)
            if big == 24:
                rows.append(
                    Row(
                        f"offline ISO, {size / MIB:.0f} MiB tree in {big + small} files",
                        f"{p.seconds:.2f} s, {p.max_rss_mib:.0f} MiB RSS (RSS {m:.1f}x)",
                        f"xorriso -R -J: {x.seconds:.2f} s, {x.max_rss_mib:.0f} MiB",
                        t,
                        "<= 1.0x, RSS <= 2x",
                        t <= 1.0 and m <= 2.0,
                    )
                )
            shutil.rmtree(snap)
        print(
            "  (the provision image also holds kernel, initrd, bootloaders and ESP: "
            f"{first.size_mib:.0f} MiB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()
