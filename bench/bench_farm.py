"""Build farm benchmark: the four demo profiles built in-process, then on a farm of one worker,
then of two (Redis, `provision serve --broker`, `provision worker`, all on loopback, each with
its own data dir; every run starts cold).  Goals: two workers take at most 0.6x the time of
one; the upload plus the server's signing and indexing add at most 5% to a pass, per package.

    python -m bench bench_farm          (root: Debian's redis-server, pax-utils)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from provision.builder import hold
from provision.run import run
from provision.signing import stop_agents
from provision.snapshots.layout import DataLayout

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("desktop-amd64", "laptop-amd64", "server-amd64", "vm-amd64")
SECRET = "bench-farm-secret-key-0123456789"
ENV = {**os.environ, "PROVISION_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
TIMEOUT = 1800.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_toml() -> str:
    """The demo's distfiles for vm-amd64 (its prebuilt kernel comes from this machine's /boot)."""
    return (
        '[distfiles."sys-kernel/demo-kernel-bin"]\n'
        '"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"\n'
        '"demo-kernel-bin-6.1.0.initrd" = "/boot/initrd.img-*"\n'
    )


@dataclass(frozen=True)
class Workload:
    profiles_dir: Path
    profiles: tuple[str, ...]
    build_toml: str


DEMO = Workload(ROOT / "profiles", PROFILES, build_toml())


def waiting_workload(base: Path, seconds: int = 15) -> Workload:
    """Four profiles whose passes wait instead of compute (a package that sleeps): how the
    farm schedules, apart from how many cores the machine has."""
    repo = base / "repo"
    shutil.copytree(ROOT / "profiles" / "repo", repo, symlinks=True)
    profiles = base / "profiles"
    profiles.mkdir()
    names = tuple(f"wait-{c}" for c in "abcd")  # (a package name may not end in -1)
    for name in names:  # a package of its own each: nothing to share between the profiles
        (repo / "app-misc" / name).mkdir(parents=True)
        (repo / "app-misc" / name / f"{name}-1.ebuild").write_text(
            'EAPI=8\nDESCRIPTION="waits"\nHOMEPAGE="https://example.invalid"\nLICENSE="GPL-2"\n'
            'SLOT="0"\nKEYWORDS="amd64"\nS="${WORKDIR}"\n'
            f"src_compile() {{ sleep {seconds}; }}\nsrc_install() {{ keepdir /var/lib/{name}; }}\n"
        )
        (profiles / f"{name}.toml").write_text(
            f'packages = ["app-misc/{name}"]\n[portage]\nprofile = "default/linux/amd64/23.0"\n'
            f'[[repositories]]\nname = "provision-demo"\nlocation = "{repo}"\n'
        )
    return Workload(profiles, names, "images = false\n")


def cli(data: Path, *args: str, profiles: Path = ROOT / "profiles") -> str:
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    argv += ["--profiles-dir", str(profiles), *args]
    return run(argv, env=ENV, timeout=TIMEOUT).stdout


class Procs:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], ready: str, timeout: float = 120) -> Path:
        log = self.base / f"{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, env=ENV, start_new_session=True
            )
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while not re.search(ready, log.read_text(errors="replace")):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        return log

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)


@dataclass
class FarmRun:
    seconds: float
    packages: int  # signed on the server
    upload: float  # seconds, summed over passes
    sign: float  # signing and indexing on the server (one process per pass)
    build: float  # the workers' build seconds, summed


def in_process(base: Path, work: Workload = DEMO) -> float:
    data = base / "inproc"
    data.mkdir(parents=True)
    (data / "build.toml").write_text(work.build_toml)
    start = time.monotonic()
    cli(data, "build", *work.profiles, profiles=work.profiles_dir)
    elapsed = time.monotonic() - start
    stop_agents(DataLayout(data).keys)
    return elapsed


def farm(base: Path, workers: int, load: Workload = DEMO) -> FarmRun:
    work = base / f"farm{workers}"
    data = work / "server"
    data.mkdir(parents=True)
    (data / "build.toml").write_text(load.build_toml)
    for p in load.profiles:
        hold(data, p, "bench: waiting")
    procs = Procs(work)
    try:
        redis_port, port = free_port(), free_port()
        procs.start(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work),
            ],
            "Ready to accept",
        )
        broker = f"redis://127.0.0.1:{redis_port}/0"
        url = f"http://127.0.0.1:{port}"
        base_argv = [sys.executable, "-m", "provision", "--profiles-dir", str(load.profiles_dir)]
        procs.start(
            "server",
            [
                *base_argv,
                "--data-dir",
                str(data),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--broker",
                broker,
            ],
            "serving on",
        )
        logs = []
        for n in range(1, workers + 1):
            token = cli(data, "worker-token", "create", f"w{n}", profiles=load.profiles_dir).strip()
            logs.append(
                procs.start(
                    f"w{n}",
                    [
                        *base_argv,
                        "worker",
                        "--broker",
                        broker,
                        "--server",
                        url,
                        "--token",
                        token,
                        "--data-dir",
                        str(work / f"w{n}"),
                    ],
                    r"w\d+@\S+ ready",
                )
            )
        start = time.monotonic()
        cli(data, "build", "--trigger", *load.profiles, profiles=load.profiles_dir)
        layout = DataLayout(data)
        while True:
            states = [json.loads(layout.state_file(p).read_text()) for p in load.profiles]
            if all(s["phase"] in ("published", "held") and s["pass_id"] for s in states):
                break
            if time.monotonic() - start > TIMEOUT:
                raise RuntimeError(f"passes did not finish: {states}")
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        held = [s["profile"] for s in states if s["phase"] == "held"]
        if held:
            raise RuntimeError(f"held: {held}: {[s['error'] for s in states]}")
        return FarmRun(elapsed, *_costs(layout, logs, load.profiles))
    finally:
        procs.stop()
        stop_agents(DataLayout(data).keys)


def _costs(
    layout: DataLayout, worker_logs: list[Path], profiles: tuple[str, ...]
) -> tuple[int, float, float, float]:
    packages, sign, build = 0, 0.0, 0.0
    for p in profiles:
        for log in layout.logs(p).glob("*.log"):
            text = log.read_text(errors="replace")
            for m in re.finditer(r"signed (\d+) packages .* in ([\d.]+) s", text):
                packages += int(m.group(1))
                sign += float(m.group(2))
            for m in re.finditer(r"built on worker \S+ in ([\d.]+) s", text):
                build += float(m.group(1))
    upload = sum(
        float(m.group(1))
        for log in worker_logs
        for m in re.finditer(r"uploaded in ([\d.]+) s", log.read_text(errors="replace"))
    )
    return packages, upload, sign, build


def main() -> None:
    if shutil.which("redis-server") is None:
        print("skipped: redis-server is not installed (apt-get install redis-server)")
        return
    base = Path(tempfile.mkdtemp(prefix="bh-bench-farm-"))
    loads = []
    try:
        loads.append(os.getloadavg()[0])
        local = in_process(base)
        loads.append(os.getloadavg()[0])
        one = farm(base, 1)
        loads.append(os.getloadavg()[0])
        two = farm(base, 2)
        loads.append(os.getloadavg()[0])
        waiting = waiting_workload(base / "waiting")
        wait_one = farm(base / "waiting", 1, waiting)
        wait_two = farm(base / "waiting", 2, waiting)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"machine: {os.cpu_count()} cores; load average before/between runs: "
        + ", ".join(f"{x:.1f}" for x in loads)
        + " (a farm of processes on one machine shares its cores: with 2 cores, 2 workers"
        " and the server's signing and images compete)"
    )
    ratio = two.seconds / one.seconds
    print(f"4 profiles in-process: {local:.1f} s")
    print(f"4 profiles on 1 worker: {one.seconds:.1f} s ({one.seconds / local:.2f}x in-process)")
    print(
        f"4 profiles on 2 workers: {two.seconds:.1f} s ({ratio:.2f}x one worker; goal <= 0.6: "
        f"{'ok' if ratio <= 0.6 else 'OVER GOAL'})"
    )
    wait_ratio = wait_two.seconds / wait_one.seconds
    print(
        f"4 passes that wait 15 s each (scheduling, not cores): 1 worker {wait_one.seconds:.1f} s,"
        f" 2 workers {wait_two.seconds:.1f} s ({wait_ratio:.2f}x; goal <= 0.6: "
        f"{'ok' if wait_ratio <= 0.6 else 'OVER GOAL'})"
    )
    for label, r in (("1 worker", one), ("2 workers", two)):
        added = r.upload + r.sign
        per_pkg = added / max(r.packages, 1)
        share = per_pkg / (r.build / len(PROFILES)) if r.build else 0.0
        print(
            f"{label}: upload {r.upload:.2f} s + signing and indexing {r.sign:.2f} s "
            f"for {r.packages} packages = {per_pkg:.3f} s per package, {share:.1%} of a pass "
            f"(goal <= 5%: {'ok' if share <= 0.05 else 'OVER GOAL'}); all of it "
            f"{added / r.build:.1%} of the build time"
        )


if __name__ == "__main__":
    main()
