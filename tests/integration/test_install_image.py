"""Issue 12, the installer side, with real Portage, a real signed binhost and its system image
(built by `provision build` on a `stage` root, EPREFIX empty), served by the real server:

- by default the installer streams the image; the result equals the per-package install
  (package list, file list, /var/db/pkg); a later binhost update applies with emerge -uDN @world;
- no image (404) falls back to `emerge --getbinpkgonly`; the server then offers none;
- a corrupt image is refused with the target left exactly as it was;
- a host's extra packages are emerged on top of the image;
- --dry-run names the path; a tarball order serves the image with its signed manifest.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.errors import InstallError
from provision.image.pack import files_in
from provision.install import steps
from provision.install.config import InstallConfig, parse_config
from provision.install.context import InstallContext
from provision.install.disks import Disk
from provision.install.events import Events
from provision.install.fetch import get_json
from provision.install.plan import plan_partitions
from provision.install.probe import mounted_at
from provision.install.runner import Options, install
from provision.install.steps.image import RECORD
from provision.install.steps.packages import (
    FETCH_HELPER,
    FETCH_SCRIPT,
    bind_argv,
    chroot_argv,
    emerge_env,
)
from provision.profiles.model import Firmware
from provision.run import run
from provision.server.images import ImageMaker, installable_image
from provision.server.orders import Order, OrderKind, OrderState
from provision.server.store import Store
from provision.signing import KeyInfo, load_key, stop_agents
from provision.snapshots.read import current_snapshot
from tests.conftest import DEMO_REPO
from tests.integration.build_fixtures import make_stage_tarball, make_test_profile, provision
from tests.integration.install_fixtures import publish_stage, serve

pytestmark = pytest.mark.integration

PROFILE = "img"
FAKE = Disk(devnode="/dev/inst12-not-a-disk", sys_name="inst12", size=64 << 30)
STEPS = ("stage", "image", "portage", "packages")
# Per-run noise, not content: logs, Portage's caches and counters, the downloaded binpkgs,
# the installer's own records, the emerge chroot's mount points, and Portage's state directory
# (its owner group and empty bookkeeping files depend on where emerge ran; the world file in
# it is compared on its own).
NOISE = (
    "var/log/",
    "var/cache/",
    "var/tmp/",
    "var/lib/provision/",
    "var/lib/portage/",
    "var/lib/gentoo/",
    "etc/portage/gnupg/",  # the same key, imported at different times
    "proc/",
    "dev/",
)
# Records of the merge itself (the merging Portage's FEATURES, directory mtimes): they differ
# between any two merges; compared for presence only.
MERGE_RECORDS = ("environment.bz2", "metadata")


@dataclass(frozen=True)
class Env:
    data: Path
    profiles: Path
    repo: Path
    url: str
    key: KeyInfo


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("inst12")
    repo = base / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profiles = base / "profiles"
    data = base / "data"
    data.mkdir()
    stage = make_stage_tarball()
    (data / "build.toml").write_text(f'root = "stage"\nstage = "{stage}"\n')
    # pass 1 builds greeter (and libgreet); pass 2 drops it from the set and adds democonf: a
    # new image without greeter, while the binhost keeps its packages (what a host can still
    # ask for on top).  (The builder makes a new image only when the binhost's package set
    # changes, hence democonf.)
    make_test_profile(profiles, repo, ["app-misc/hello", "app-misc/greeter"], name=PROFILE)
    provision(data, "build", PROFILE, profiles=profiles)
    make_test_profile(profiles, repo, ["app-misc/hello", "app-admin/democonf"], name=PROFILE)
    provision(data, "build", PROFILE, profiles=profiles)
    key = load_key(data / "keys")
    (base / "stage.tar.zst").symlink_to(stage)
    publish_stage(data, PROFILE, base / "stage.tar.zst", key.sign_home)
    try:
        with serve(data, profiles) as url:
            yield Env(data, profiles, repo, url, key)
    finally:
        stop_agents(data / "keys")


def host_config(env: Env, mac: str, *, packages: str = "") -> InstallConfig:
    store = Store.in_data_dir(env.data)
    try:
        token = store.upsert_host(mac, profile=PROFILE, hostname=f"h{mac[-2:]}").token
        if packages:
            store.set_host_setting(mac, "packages", packages)
    finally:
        store.close()
    doc = get_json(f"{env.url}/api/v1/hosts/{mac}/config", token)
    return parse_config(doc, token=token)


def run_install(
    config: InstallConfig, target: Path, names: tuple[str, ...] = STEPS, *, dry_run: bool = False
) -> Events:
    events = Events(url=config.events_url, token=config.token, out=io.StringIO())
    target.mkdir(exist_ok=True)
    options = Options(target=target, disk=FAKE.devnode, unmount=False, dry_run=dry_run)
    try:
        install(config, options, [FAKE], events, [steps.load(n) for n in names])
    finally:
        unmount(target)
    return events


def unmount(target: Path) -> None:
    for where in ("proc", "dev"):
        if mounted_at(target / where):
            run(["umount", "--recursive", "--lazy", str(target / where)])


def messages(events: Events) -> str:
    return "\n".join(f"{e['kind']} [{e.get('step', '')}] {e['message']}" for e in events.sent)


def vdb(root: Path) -> list[str]:
    pkg = root / "var/db/pkg"
    return sorted(f"{c.name}/{p.name}" for c in pkg.iterdir() for p in c.iterdir())


def tree(root: Path) -> dict[str, str]:
    """Every path under root → kind, mode, owner and content (NOISE and COUNTER left out)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if any(f"{rel}/".startswith(n) for n in NOISE) or path.name == "COUNTER":
            continue
        st = path.lstat()
        if rel.startswith("var/db/pkg/") and path.name in MERGE_RECORDS:
            out[rel] = "merge record"
        elif path.is_symlink():
            out[rel] = f"link:{path.readlink()}"
        elif path.is_dir():
            out[rel] = f"dir:{oct(st.st_mode)}:{st.st_uid}:{st.st_gid}"
        else:
            data = path.read_bytes()
            out[rel] = f"{oct(st.st_mode)}:{st.st_uid}:{st.st_gid}:{len(data)}:{hash(data)}"
    return out


def image_dir(env: Env) -> Path:
    snap = current_snapshot(env.data, PROFILE)
    assert snap is not None
    return snap / "image"


def test_image_by_default_equals_per_package_and_404_falls_back(env: Env, tmp_path: Path) -> None:
    config = host_config(env, "52:54:00:12:00:01")
    assert config.sources.image_url == f"{env.url}/image/{PROFILE}/current"

    plan = run_install(config, tmp_path / "dry", dry_run=True).out
    assert isinstance(plan, io.StringIO)
    text = plan.getvalue()
    assert "(path taken: image)" in text and "on top of the image" in text, text
    assert not (tmp_path / "dry" / "usr").exists()

    by_image = tmp_path / "by-image"
    events = run_install(config, by_image)
    log = messages(events)
    assert "installed the system image of img" in log and "verified" in log, log
    record = json.loads((by_image / RECORD).read_text())
    assert record["profile"] == PROFILE and record["snapshot"] == image_dir(env).parent.name
    install_log = (by_image / "var/log/provision-install.log").read_text()
    assert ">>> Emerging" not in install_log, install_log[-2000:]  # nothing per package
    assert events.sent[-1]["kind"] == "finish"

    # the same host with the image gone: the server offers none, and an installer pointed at
    # it anyway gets a 404 and installs per package
    signature = files_in(image_dir(env)).signature
    hidden = signature.with_name("hidden.asc")
    signature.rename(hidden)
    try:
        assert host_config(env, "52:54:00:12:00:02").sources.image_url == ""
        fallback = dataclasses.replace(
            host_config(env, "52:54:00:12:00:02"),
            sources=dataclasses.replace(
                config.sources, image_url=f"{env.url}/image/{PROFILE}/current"
            ),
        )
        dry = run_install(fallback, tmp_path / "dry2", dry_run=True).out
        assert isinstance(dry, io.StringIO)
        assert "fallback: the packages step emerges per package" in dry.getvalue()
        by_emerge = tmp_path / "by-emerge"
        events = run_install(fallback, by_emerge)
    finally:
        hidden.rename(signature)
    assert "missing): installing per package" in messages(events)
    assert not (by_emerge / RECORD).exists()
    emerge_log = (by_emerge / "var/log/provision-install.log").read_text()
    assert ">>> Emerging binary (" in emerge_log and ">>> Emerging (" not in emerge_log

    assert vdb(by_image) == vdb(by_emerge)
    assert {"app-misc/hello-1.0", "sys-apps/demo-base-1.0", "app-admin/democonf-1.0"} <= set(
        vdb(by_image)
    )
    assert "app-misc/greeter-1.0" not in vdb(by_image)
    world = "var/lib/portage/world"
    assert (by_image / world).read_text() == (by_emerge / world).read_text()
    a, b = tree(by_image), tree(by_emerge)
    assert sorted(set(a) ^ set(b)) == []
    assert {k: (a[k], b[k]) for k in a if a[k] != b[k]} == {}
    assert run(["chroot", str(by_image), "/usr/bin/hello"]).stdout.strip()


def test_corrupt_image_leaves_the_target_as_it_was(env: Env, tmp_path: Path) -> None:
    config = host_config(env, "52:54:00:12:00:03")
    target = tmp_path / "t"
    run_install(config, target, ("stage",))
    before = tree(target)
    assert "usr/bin/python3" in before and "usr/bin/hello" not in before
    image = files_in(image_dir(env)).image
    backup = tmp_path / "good.tar.zst"
    shutil.copyfile(image, backup)
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    image.write_bytes(bytes(data))
    try:
        with pytest.raises(InstallError, match=r"system image refused.*is corrupt"):
            run_install(config, target, STEPS)
    finally:
        shutil.copyfile(backup, image)
    assert tree(target) == before
    assert not any(p.name.startswith(".provision-image") for p in target.iterdir())


def test_image_from_a_directory(env: Env, tmp_path: Path) -> None:
    """An offline medium: the image files in a directory, verified the same way."""
    medium = tmp_path / "medium" / "provision" / "snapshot" / "image"
    shutil.copytree(image_dir(env), medium)
    config = host_config(env, "52:54:00:12:00:05")
    config = dataclasses.replace(
        config, sources=dataclasses.replace(config.sources, image_url=str(medium))
    )
    target = tmp_path / "t"
    run_install(config, target, ("stage", "image"))
    assert json.loads((target / RECORD).read_text())["source"] == str(medium)
    assert "app-misc/hello-1.0" in vdb(target) and (target / "usr/bin/hello").is_file()


def test_extra_packages_on_top_then_binhost_update(env: Env, tmp_path: Path) -> None:
    config = host_config(env, "52:54:00:12:00:04", packages="app-misc/greeter")
    assert config.settings.packages == ("app-misc/greeter",)
    target = tmp_path / "t"
    events = run_install(config, target)
    log = messages(events)
    assert "installed the system image" in log and "on top of the image: app-misc/greeter" in log
    installed = vdb(target)
    assert {"app-misc/greeter-1.0", "dev-libs/libgreet-1.0", "app-misc/hello-1.0"} <= set(installed)
    assert "app-misc/greeter" in (target / "var/lib/portage/world").read_text().split()
    greeting = run(["chroot", str(target), "/usr/bin/greeter"]).stdout
    assert greeting.startswith("greetings from libgreet")

    # the binhost moves on (hello 1.1); the installed system follows with emerge -uDN @world
    (env.repo / "app-misc/hello/hello-1.0.ebuild").rename(
        env.repo / "app-misc/hello/hello-1.1.ebuild"
    )
    provision(env.data, "build", PROFILE, profiles=env.profiles)
    ctx = context_for(config, target)
    for _, argv in bind_argv(ctx):
        run(argv)
    # this test stage has neither wget nor curl: Portage fetches with the installer's helper
    (target / FETCH_HELPER.lstrip("/")).write_text(FETCH_SCRIPT)
    try:
        argv = ["emerge", "--ask=n", "--getbinpkgonly", "--usepkgonly", "-uDN", "@world"]
        ctx.sh(chroot_argv(str(target), argv), env=emerge_env(ctx))
    finally:
        unmount(target)
    after = vdb(target)
    assert "app-misc/hello-1.1" in after and "app-misc/hello-1.0" not in after
    assert "app-misc/greeter-1.0" in after


def context_for(config: InstallConfig, target: Path) -> InstallContext:
    plan = plan_partitions(
        config.profile.disk, devnode=FAKE.devnode, disk_size=FAKE.size, firmware=Firmware.BIOS,
        seed=config.seed,
    )  # fmt: skip
    work = target.parent / "work"
    work.mkdir(exist_ok=True)
    return InstallContext(target, config, FAKE, plan, Events(out=io.StringIO()), work)


def test_tarball_order_serves_the_image(env: Env, tmp_path: Path) -> None:
    image = installable_image(env.data, PROFILE)
    assert image is not None
    order = Order(1, PROFILE, OrderKind.TARBALL, "", OrderState.BUILDING, 0.0, None, None, None,
                  "", 0, "", 0.0, "tok")  # fmt: skip
    seen: list[float] = []
    out = ImageMaker(env.data, env.profiles, env.url)(order, tmp_path / "orders", seen.append)
    assert out.name == f"{PROFILE}-1.tar" and seen[-1] == 1.0
    with tarfile.open(out) as tar:
        names = sorted(tar.getnames())
        assert names == [
            f"{PROFILE}-image/{n}"
            for n in (
                "README",
                "key.asc",
                "system.tar.zst",
                "system.tar.zst.manifest",
                "system.tar.zst.manifest.asc",
            )
        ]
        tar.extractall(tmp_path / "x", filter="data")
    got = tmp_path / "x" / f"{PROFILE}-image"
    assert (got / "system.tar.zst").read_bytes() == image.image.read_bytes()
    # verifiable offline with what the order carries
    home = tmp_path / "gpg"
    home.mkdir(mode=0o700)
    run(["gpg", "--homedir", str(home), "--batch", "--import", str(got / "key.asc")])
    manifest = got / "system.tar.zst.manifest"
    verify = ["--batch", "--status-fd", "1", "--verify", f"{manifest}.asc", str(manifest)]
    res = run(["gpg", "--homedir", str(home), *verify])
    assert f"VALIDSIG {env.key.fingerprint}" in res.stdout
    # a prefix-built snapshot's image (its files under the builder's EPREFIX) does not unpack
    # into a root: the bundle is served instead
    snap = current_snapshot(env.data, PROFILE)
    assert snap is not None
    meta_path = snap / "meta.json"
    original = meta_path.read_text()
    assert json.loads(original)["eprefix"] == ""  # built on the stage root
    meta_path.write_text(json.dumps({**json.loads(original), "eprefix": "/srv/builds/x/root"}))
    try:
        assert installable_image(env.data, PROFILE) is None
    finally:
        meta_path.write_text(original)
