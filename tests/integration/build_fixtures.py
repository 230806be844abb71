"""Shared helpers and fixtures for the builder's integration tests, reusable by other areas.

Reuse (installer, etc-merge...): in a test module or conftest,

    from tests.integration import build_fixtures
    demo_binhost = build_fixtures.demo_binhost   # the session fixture, under its own name

    def test_x(demo_binhost: DemoBinhost) -> None:
        demo_binhost.data_dir      # a provision data dir with a published, signed binhost
        demo_binhost.snapshot      # snapshots/<profile>/<id> (binhost/, repo/, repo.tar.gz)
        demo_binhost.key           # KeyInfo (fingerprint, sign_home, verify_home)
        with serve(demo_binhost.data_dir) as url: ...   # waitress on 127.0.0.1:<ephemeral>
        client = make_client(tmp_path / "client", demo_binhost.profile, url, demo_binhost.key)
        client.run("emerge", ["--ask=n", "@world"])     # or a single atom

The binhost is built once per session (profile server-amd64 from profiles/repo, prefix root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.live.standin import standin_stage
from provision.portage.prefix import Prefix
from provision.portage.render import (
    render_binrepos_conf,
    render_client_make_conf,
    render_repos_conf,
)
from provision.profiles import ProfileSet
from provision.profiles.model import Profile
from provision.run import Result, run
from provision.server.app import create_app
from provision.server.settings import ServerSettings
from provision.signing import KeyInfo, export_public_key, gpg_argv, load_key, stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.read import current_snapshot

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
DEMO_REPO = PROFILES / "repo"
DEMO_PROFILE = "server-amd64"
CACHE = Path(os.environ.get("PROVISION_TEST_CACHE", Path.home() / ".cache" / "provision-test"))


def provision(data_dir: Path, *args: str, profiles: Path = PROFILES, check: bool = True) -> Result:
    """Run the real CLI (a separate process, as an admin would)."""
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data_dir)]
    return run([*argv, "--profiles-dir", str(profiles), *args], check=check, timeout=900)


def make_test_profile(directory: Path, repo: Path, packages: list[str], name: str = "t") -> Path:
    """A profiles dir with one small profile building from `repo` (a copy tests may break)."""
    directory.mkdir(parents=True, exist_ok=True)
    atoms = ", ".join(f'"{p}"' for p in packages)
    (directory / f"{name}.toml").write_text(
        f'description = "builder test profile"\npackages = [{atoms}]\n'
        '[portage]\nprofile = "default/linux/amd64/23.0"\n'
        f'[[repositories]]\nname = "provision-demo"\nlocation = "{repo}"\n'
    )
    return directory


@dataclass(frozen=True)
class DemoBinhost:
    data_dir: Path
    profile: str
    snapshot: Path
    key: KeyInfo


def build_demo_binhost(data_dir: Path, profile: str = DEMO_PROFILE) -> DemoBinhost:
    provision(data_dir, "build", profile)
    snapshot = current_snapshot(data_dir, profile)
    assert snapshot is not None, "the demo build published nothing"
    return DemoBinhost(data_dir, profile, snapshot, load_key(DataLayout(data_dir).keys))


@pytest.fixture(scope="session")
def demo_binhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBinhost]:
    """A data dir with the demo profile built, signed and published (once per session)."""
    data_dir = tmp_path_factory.mktemp("bh-demo") / "data"
    info = build_demo_binhost(data_dir)
    yield info
    stop_agents(DataLayout(data_dir).keys)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(data_dir: Path, profiles: Path = PROFILES) -> Iterator[str]:
    """The real app on waitress in a thread, on 127.0.0.1 and an ephemeral port."""
    from waitress.server import create_server

    settings = ServerSettings(data_dir=data_dir, profiles_dir=profiles, secret_key="t" * 32)
    server = create_server(create_app(settings), host="127.0.0.1", port=0, threads=4)
    port = server.effective_port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        thread.join(timeout=10)


def make_client(root: Path, profile: Profile, url: str, public_key: str) -> Prefix:
    """A fresh client prefix of a profile's binhost: binrepos.conf + the key in its gnupg dir."""
    client = Prefix(root)
    gnupg = root / "etc" / "portage" / "gnupg"
    repo = Path(profile.main_repository.location)
    client.create(
        repos_conf=render_repos_conf(profile),
        portage_profile=repo / "profiles" / profile.portage.profile,
        files={
            "etc/portage/make.conf": render_client_make_conf(
                profile, verify_home=str(gnupg), unprivileged=True
            )
            + f'PORTAGE_TMPDIR="{root}/var/tmp"\n',
            "etc/portage/binrepos.conf/provision.conf": render_binrepos_conf(
                "provision", f"{url}/binhost/{profile.name}"
            ),
        },
    )
    gnupg.mkdir(mode=0o755)
    run(gpg_argv(gnupg, "--import"), input=public_key)
    fpr = next(
        ln.split(":")[9]
        for ln in run(gpg_argv(gnupg, "--with-colons", "--list-keys")).stdout.splitlines()
        if ln.startswith("fpr:")
    )
    run(gpg_argv(gnupg, "--import-ownertrust"), input=f"{fpr}:6:\n")
    run(gpg_argv(gnupg, "--check-trustdb"))
    os.chmod(gnupg, 0o755)
    for item in gnupg.iterdir():
        if item.is_file():
            os.chmod(item, 0o644)
    (root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    return client


@contextmanager
def client_dir() -> Iterator[Path]:
    """A directory for a client prefix that `nobody` can traverse: as root, Portage verifies
    signatures as nobody, so the client's gnupg dir must be reachable (pytest's tmp is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="bh-client-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def client_for(binhost: DemoBinhost, root: Path, url: str) -> Prefix:
    profile = ProfileSet(PROFILES).get(binhost.profile)
    return make_client(root, profile, url, export_public_key(binhost.key))


# -- a real root filesystem for the `stage` root kind ------------------------------------------


def make_stage_tarball(cache: Path = CACHE) -> Path:
    """The Debian-made stand-in stage (provision.live.standin), cached across runs."""
    return standin_stage(cache)


def popen_cli(data_dir: Path, *args: str, profiles: Path = PROFILES) -> subprocess.Popen[bytes]:
    """The CLI as a killable process (own session, so kill -9 takes emerge with it)."""
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*argv, "--profiles-dir", str(profiles), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
