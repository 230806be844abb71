"""The build farm on machines made of network namespaces (one module-scoped lab per test module).

    lab netns (192.0.2.1)   the server: `provision serve --broker redis://192.0.2.2:6379/0`
    ...-p2  (192.0.2.2)     Redis (Debian's redis-server, no persistence: the worst case)
    ...-p11..13             workers w1, w2, w3, each with its own data dir (w3 has a trojaned
                            compiler first in its PATH: its builds differ, for k-of-n)
    ...-p20                 a mirror;  ...-p30 a client

Nothing is shared with the server but HTTP and the broker: workers get the repository snapshot
and distfiles over HTTP and upload over HTTP.  The test itself reads the data dirs (to know when
a build is at a given package, to tamper with a mirror) and talks HTTP from inside a namespace
(`in_netns`: a thread that enters it).  Profiles build from a copy of the demo repository with
three test packages: app-misc/slow (sleeps), app-misc/big (24 MiB of random data) and the demo's
own hello.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import shutil
import signal
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from provision.builder import hold
from provision.portage.prefix import Prefix, portage_tool
from provision.run import Result, run
from tests.vm.netns import Daemon, Lab
from tests.webapp import HASH, PASSWORD

ROOT = Path(__file__).resolve().parents[2]
DEMO_REPO = ROOT / "profiles" / "repo"
SERVER_IP = "192.0.2.1"
REDIS_IP = "192.0.2.2"
WORKERS = {"w1": "11", "w2": "12", "w3": "13"}
MIRROR_IP, CLIENT_IP = "192.0.2.20", "192.0.2.30"
PORT = 8080
SERVER_URL = f"http://{SERVER_IP}:{PORT}"
BROKER = f"redis://{REDIS_IP}:6379/0"
SECRET = "farm-test-secret-key-0123456789"
LEASE_TTL = 5
SLOW_SECONDS = 10
BIG_MIB = 24
UPLOAD_LIMIT = "4M"
GENERAL = ("f-basic", "f-slow", "f-slow-b", "f-big", "f-broken", "f-kofn2", "f-kofn3")
PROFILES: dict[str, tuple[str, ...]] = {
    "f-basic": ("app-misc/hello",),
    "f-slow": ("app-misc/slow",),
    "f-slow-b": ("app-misc/slow",),
    "f-big": ("app-misc/big",),
    "f-broken": ("app-misc/broken",),
    "f-tamper": ("app-misc/hello",),  # served by no worker: the test plays a hostile one
    "f-kofn2": ("app-misc/hello",),
    "f-kofn3": ("app-misc/hello",),
}
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

SLOW_EBUILD = """EAPI=8
DESCRIPTION="farm test: a build that takes a while"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
src_compile() { sleep %d; }
src_install() { insinto /usr/share/slow; newins - slow.txt <<<"${PVR}"; }
"""
BIG_EBUILD = """EAPI=8
DESCRIPTION="farm test: a big package (random bytes: zstd cannot shrink them)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
src_install() {
	insinto /usr/share/big
	head -c %dM /dev/urandom > "${T}"/big.bin || die
	doins "${T}"/big.bin
}
"""
BROKEN_EBUILD = """EAPI=8
DESCRIPTION="farm test: a package that does not build"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
src_compile() { die "broken on purpose"; }
"""
# A compromised build machine: its compiler quietly builds something else.
TROJAN_GCC = '#!/bin/sh\nexec /usr/bin/gcc "$@" -O0 -DTROJANED\n'


def in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run fn in a thread that has entered network namespace `name` (sockets it opens live
    there); returns fn's result or raises its exception."""
    out: dict[str, Any] = {}

    def target() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {name}")
        finally:
            os.close(fd)
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


def http(
    method: str, url: str, body: Any = None, token: str = "", headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers with lower-case names) of one request (4xx/5xx: no exception)."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}


def make_repo(dest: Path) -> Path:
    shutil.copytree(DEMO_REPO, dest, symlinks=True)
    write_slow(dest, "1")
    big = dest / "app-misc" / "big"
    big.mkdir(parents=True)
    (big / "big-1.ebuild").write_text(BIG_EBUILD % BIG_MIB)
    broken = dest / "app-misc" / "broken"
    broken.mkdir(parents=True)
    (broken / "broken-1.ebuild").write_text(BROKEN_EBUILD)
    return dest


def write_slow(repo: Path, version: str) -> None:
    """A new version of app-misc/slow: the next pass has to build (and wait) again."""
    slow = repo / "app-misc" / "slow"
    slow.mkdir(parents=True, exist_ok=True)
    (slow / f"slow-{version}.ebuild").write_text(SLOW_EBUILD % SLOW_SECONDS)


def make_profiles(directory: Path, repo: Path) -> Path:
    directory.mkdir(parents=True)
    for name, packages in PROFILES.items():
        atoms = ", ".join(f'"{p}"' for p in packages)
        (directory / f"{name}.toml").write_text(
            f'description = "farm test {name}"\npackages = [{atoms}]\n'
            '[portage]\nprofile = "default/linux/amd64/23.0"\n'
            f'[[repositories]]\nname = "provision-demo"\nlocation = "{repo}"\n'
        )
    return directory


@dataclass
class Farm:
    lab: Lab
    work: Path
    server_dir: Path
    profiles: Path
    repo: Path
    redis_ns: str
    worker_ns: dict[str, str]
    mirror_ns: str
    client_ns: str
    tokens: dict[str, str] = field(default_factory=dict)
    daemons: dict[str, Daemon] = field(default_factory=dict)
    _admin: str = ""

    # --- processes ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {"PROVISION_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}

    def provision_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "provision", *args]

    def cli(self, *args: str, check: bool = True) -> Result:
        """The CLI on the server's data dir, as its admin would run it there."""
        argv = self.provision_argv(
            "--data-dir", str(self.server_dir), "--profiles-dir", str(self.profiles), *args
        )
        return run(argv, env={**os.environ, **self.env()}, check=check, timeout=300)

    def start_redis(self) -> None:
        conf = self.work / "redis.conf"
        conf.write_text(
            f"bind {REDIS_IP}\nport 6379\nprotected-mode no\ndir {self.work}\n"
            'save ""\nappendonly no\n'
        )
        self.daemons["redis"] = self.lab.start(
            "redis", ["redis-server", str(conf)], netns=self.redis_ns, ready="Ready to accept"
        )

    def start_server(self) -> None:
        argv = self.provision_argv(
            "--data-dir",
            str(self.server_dir),
            "--profiles-dir",
            str(self.profiles),
            "serve",
            "--listen",
            f"{SERVER_IP}:{PORT}",
            "--broker",
            BROKER,
            "--threads",
            "8",
        )
        self.daemons["server"] = self.lab.start(
            f"server-{time.monotonic_ns()}", argv, env=self.env(), ready="serving on", timeout=60
        )

    def start_worker(self, name: str) -> Daemon:
        profiles = ("f-kofn2", "f-kofn3") if name == "w3" else GENERAL
        data = self.work / name
        env = self.env()
        if name == "w3":
            trojan = self.work / "trojan"
            trojan.mkdir(exist_ok=True)
            (trojan / "gcc").write_text(TROJAN_GCC)
            (trojan / "gcc").chmod(0o755)
            env["PATH"] = f"{trojan}:{os.environ['PATH']}"
        argv = self.provision_argv(
            "worker",
            "--broker",
            BROKER,
            "--server",
            SERVER_URL,
            "--token",
            self.tokens[name],
            "--data-dir",
            str(data),
            "--profiles",
            ",".join(profiles),
            "--upload-limit",
            UPLOAD_LIMIT,
        )
        daemon = self.lab.start(
            f"{name}-{time.monotonic_ns()}",
            argv,
            netns=self.worker_ns[name],
            env=env,
            ready=rf"{name}@\S+ ready",
            timeout=90,
        )
        self.daemons[name] = daemon
        return daemon

    def kill(self, name: str) -> None:
        """kill -9 of a whole machine's program (every process of its group)."""
        daemon = self.daemons[name]
        os.killpg(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(30)

    # --- HTTP -----------------------------------------------------------------------------------
    def admin_token(self) -> str:
        if not self._admin:
            status, body, _ = self.call("POST", "/api/v1/auth/token", {"password": PASSWORD}, "")
            assert status == 200, body
            self._admin = json.loads(body)["token"]
        return self._admin

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, **kw: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        """A request to the server from inside its own namespace (admin token by default)."""
        tok = self.admin_token() if token is None else token
        return in_netns(self.lab.name, lambda: http(method, SERVER_URL + path, body, tok, **kw))

    def api(self, path: str) -> Any:
        status, body, _ = self.call("GET", path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def page(self, path: str) -> str:
        status, body, _ = self.call("GET", path)
        assert status == 200, (path, status)
        return body.decode()

    # --- builds ---------------------------------------------------------------------------------
    def status(self, profile: str) -> dict[str, Any]:
        rows = json.loads(self.cli("status", "--json", profile).stdout)
        row: dict[str, Any] = rows[0]
        return row

    def trigger(self, *profiles: str) -> None:
        self.cli("build", "--trigger", *profiles)

    def wait_state(
        self, profile: str, states: tuple[str, ...], *, after: str = "", timeout: float = 180
    ) -> dict[str, Any]:
        """Wait until the profile's state is one of `states` for a pass other than `after`."""
        deadline = time.monotonic() + timeout
        path = self.server_dir / "builds" / profile / "state.json"
        while True:
            state = json.loads(path.read_text())
            if state["phase"] in states and state.get("pass_id") not in ("", after):
                return self.status(profile)
            if time.monotonic() > deadline:
                raise AssertionError(f"{profile}: still {state} after {timeout} s\n{self.logs()}")
            time.sleep(0.5)

    def pass_id(self, profile: str) -> str:
        path = self.server_dir / "builds" / profile / "state.json"
        return str(json.loads(path.read_text()).get("pass_id", "")) if path.is_file() else ""

    def slots(self, profile: str) -> list[dict[str, Any]]:
        return [s for s in self.api("/api/v1/farm")["slots"] if s["profile"] == profile]

    def wait_slot(
        self, profile: str, state: str, timeout: float = 120, worker: str = ""
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for s in self.slots(profile):
                if s["state"] == state and (not worker or s["worker"] == worker):
                    return s
            if time.monotonic() > deadline:
                raise AssertionError(f"{profile}: no {state} slot in {timeout} s\n{self.logs()}")
            time.sleep(0.3)

    def worker_log(self, name: str, profile: str) -> str:
        logs = sorted((self.work / name / "builds" / profile / "logs").glob("*.log"))
        return logs[-1].read_text(errors="replace") if logs else ""

    def logs(self) -> str:
        out = []
        for name, daemon in self.daemons.items():
            out.append(f"--- {name} ---\n{daemon.text()[-3000:]}")
        return "\n".join(out)


def start_farm(work: Path) -> Iterator[Farm]:
    """The whole farm: namespaces, Redis, the server, w1-w3 (a generator for a fixture)."""
    repo = make_repo(work / "repo")
    profiles = make_profiles(work / "profiles", repo)
    server_dir = work / "server"
    server_dir.mkdir()
    (server_dir / "server.toml").write_text(f'admin_password_hash = "{HASH}"\n')
    (server_dir / "build.toml").write_text(
        "images = true\n"
        f"[farm]\nlease_ttl = {LEASE_TTL}\nrequeue_grace = 4\nvisibility_timeout = 3600\n"
        "[profile.f-kofn2]\nrequire_verifications = 2\n"
        "[profile.f-kofn3]\nrequire_verifications = 3\n"
    )
    for name in PROFILES:  # passes run when a test triggers them, not at start-up
        hold(server_dir, name, "waiting for the test")
    with Lab.create(work, prefix="farm") as lab:
        farm = Farm(
            lab=lab,
            work=work,
            server_dir=server_dir,
            profiles=profiles,
            repo=repo,
            redis_ns=lab.add_peer("2"),
            worker_ns={name: lab.add_peer(host) for name, host in WORKERS.items()},
            mirror_ns=lab.add_peer("20"),
            client_ns=lab.add_peer("30"),
        )
        try:
            farm.start_redis()
            farm.start_server()
            for name in (*WORKERS, "evil"):
                farm.tokens[name] = farm.cli("worker-token", "create", name).stdout.strip()
            for name in WORKERS:
                farm.start_worker(name)
            yield farm
        finally:
            for name, daemon in farm.daemons.items():
                if name.startswith("w") and daemon.proc.poll() is None:
                    os.killpg(daemon.proc.pid, signal.SIGKILL)  # no warm shutdown: tear down
                    daemon.proc.wait(30)


# --- a hostile worker (the tests play it: the server must refuse what it uploads) ---------------
def padded(data: bytes, blocks: int = 20) -> bytes:
    """A package with more tar padding: still a valid GPKG, but bytes the server never saw."""
    return data + b"\0" * (512 * blocks)


def flip_in_member(data: bytes, suffix: str) -> bytes:
    """The GPKG with one bit of a member's data flipped (not of padding: the member changes)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/" + suffix))
    out = bytearray(data)
    out[member.offset_data + member.size // 2] ^= 0x01
    return bytes(out)


DIGESTS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


def _redigest(line: str, data: bytes) -> str:
    key = line.split(": ", 1)[0]
    if key == "SIZE":
        return f"SIZE: {len(data)}"
    if key == "BLAKE2B":
        return f"BLAKE2B: {hashlib.blake2b(data).hexdigest()}"
    if key in DIGESTS:
        return f"{key}: {hashlib.new(DIGESTS[key], data).hexdigest()}"
    return line


def reindex(packages: str, files: dict[str, bytes]) -> str:
    """The Packages text with the size and digests of the given files (by PATH) updated."""
    out, path = [], ""
    stanzas = packages.split("\n\n")
    for stanza in stanzas:
        lines = stanza.splitlines()
        path = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith("PATH: ")), "")
        if path in files:
            lines = [_redigest(ln, files[path]) for ln in lines]
        out.append("\n".join(lines))
    return "\n\n".join(out)


def hostile_upload(
    farm: Farm, slot: str, sent: dict[str, bytes], declared: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """Lease `slot` as worker "evil" and upload `sent` (path -> bytes) under a manifest that
    declares `declared` (default: what is sent); returns the server's answer to complete."""
    from provision.farm.client import FarmClient
    from provision.farm.model import BuildOutcome, FileEntry, Manifest

    declared = declared if declared is not None else sent
    staging = farm.work / "evil" / slot
    paths = {}
    for rel, data in sent.items():
        paths[rel] = staging / rel
        paths[rel].parent.mkdir(parents=True, exist_ok=True)
        paths[rel].write_bytes(data)
    manifest = Manifest(
        tuple(
            FileEntry(rel, len(data), hashlib.sha256(data).hexdigest())
            for rel, data in sorted(declared.items())
        ),
        BuildOutcome(ok=True, built=("app-misc/hello-1.0",), seconds=1.0),
    )

    def go() -> dict[str, Any]:
        client = FarmClient(SERVER_URL, farm.tokens["evil"], retry_for=10)
        answer = client.lease(slot, "evil@test")
        assert answer.status == 200, answer.body
        return client.upload(slot, str(answer.json()["lease"]), manifest, paths)

    return in_netns(farm.mirror_ns, go)


# --- a stock Portage client -----------------------------------------------------------------------
def emerge_in(farm: Farm, netns: str, client: Prefix, *args: str) -> Result:
    argv = ["ip", "netns", "exec", netns, portage_tool("emerge"), "--ask=n", *args]
    return run(argv, env=client.env(), check=False, timeout=300)


def binhost_client(
    root: Path, farm: Farm, profile: str, binrepos: list[tuple[str, str, int]]
) -> Prefix:
    """A client prefix of `profile` with these binhosts (name, URL, priority) and the
    server's public key; signatures verified (verify-signature = true)."""
    from provision.portage.render import render_binrepos
    from provision.profiles import ProfileSet
    from provision.signing import export_public_key, load_key
    from provision.snapshots.layout import DataLayout
    from tests.integration.build_fixtures import make_client

    key = export_public_key(load_key(DataLayout(farm.server_dir).keys))
    prof = ProfileSet(farm.profiles).get(profile)
    client = make_client(root, prof, binrepos[0][1].rsplit("/binhost/", 1)[0], key)
    conf = root / "etc" / "portage" / "binrepos.conf" / "provision.conf"
    conf.write_text(render_binrepos(binrepos))
    return client
