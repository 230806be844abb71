"""`provision iso`: resolve the inputs, prepare the shared base, plan, write."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.errors import ConfigError
from provision.hosts import HostRegistry, HostStamp, host_stamp
from provision.iso import inputs
from provision.iso.base import BootloaderDirs, prepare_base
from provision.iso.cached import write_per_host
from provision.iso.menus import TEMPLATES_DIR, load_templates
from provision.iso.plan import IsoPlan, Progress, TreeFile, plan_image, scan_tree
from provision.iso.stamp import SNAPSHOT_DIR, STAGE_DIR, Stamp
from provision.profiles import ProfileSet


@dataclass(frozen=True)
class IsoRequest:
    data_dir: Path
    profiles_dir: Path
    profile: str
    output: Path
    mac: str | None = None
    hostname: str | None = None
    hosts: HostRegistry | None = None  # where --host/--hostname are registered (the server's)
    server: str | None = None
    public_key: Path | None = None
    offline: bool = False
    offline_from: Path | None = None
    stage: Path | None = None
    live_dir: Path | None = None  # default DATA_DIR/live
    templates_dir: Path = TEMPLATES_DIR
    bootloaders: BootloaderDirs = field(default_factory=BootloaderDirs)
    timeout_s: int = 5
    mode: int | None = None  # the image's file mode; None: 0600 for a host's medium, else 0644

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache" / "iso"


def plan_request(req: IsoRequest) -> IsoPlan:
    """Everything short of writing: validates every input before a byte is written."""
    ProfileSet(req.profiles_dir).get(req.profile)  # NotFound names the known profiles
    if req.output.is_dir():
        raise ConfigError(str(req.output), "is a directory (give the image's file name)")
    if not req.output.parent.is_dir():
        raise ConfigError(str(req.output), "its directory does not exist")
    templates = load_templates(req.templates_dir)
    server = inputs.server_url(req.data_dir, req.server)
    key = inputs.public_key(req.data_dir, req.public_key)
    snapshot: list[TreeFile] = []
    snap_id, has_repo = "", False
    offline = req.offline or req.offline_from is not None
    if offline:
        source = inputs.offline_source(req.data_dir, req.profile, req.offline_from)
        snapshot = [
            TreeFile(f"{part}/{t.rel}", t.source, t.size, t.mode)
            for part in ("binhost", "repo", "image")
            if (source.root / part).is_dir()
            for t in scan_tree(source.root / part)
        ]
        snap_id, has_repo = source.snapshot_id, (source.root / "repo").is_dir()
    stage = None
    if req.stage is not None:
        if not req.stage.is_file():
            raise ConfigError(str(req.stage), "no such file (a stage3 tarball)")
        st = req.stage.stat()
        stage = TreeFile(req.stage.name, req.stage, st.st_size, 0o644)
    base = prepare_base(
        live_dir=req.live_dir or req.data_dir / "live",
        cache_dir=req.cache_dir,
        templates=templates,
        dirs=req.bootloaders,
    )
    host = HostStamp("", "", "")
    if req.mac is not None or req.hostname:
        if req.hosts is None:
            raise ConfigError("host", "a per-host medium needs the server's host store")
        host = host_stamp(req.hosts, req.profile, req.mac, req.hostname)
    stamp = Stamp(
        server=server,
        profile=req.profile,
        public_key=key,
        mac=host.mac,
        hostname=host.hostname,
        token=host.token,
        offline=offline,
        snapshot=snap_id,
        stage=stage.rel if stage else "",
        has_repo=has_repo,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    base_files = (
        base.isolinux_bin,
        *base.syslinux_modules,
        base.esp_image,
        base.kernel,
        base.initrd,
    )
    sizes = {p: p.stat().st_size for p in base_files}
    return plan_image(
        base, stamp, templates, timeout_s=req.timeout_s, sizes=sizes, snapshot=snapshot, stage=stage
    )


def build_iso(req: IsoRequest, progress: Progress | None = None) -> tuple[IsoPlan, int]:
    plan = plan_request(req)
    mode = req.mode
    if mode is None:  # a host's medium carries its installer token: a secret
        mode = 0o600 if (req.mac or req.hostname) else 0o644
    if not plan_has_tree(plan):  # a per-host (or enrollment) medium: from the cached base
        size = write_per_host(plan, req.output, req.cache_dir, progress, mode=mode)
        if size is not None:
            return plan, size
    from provision.iso.writer import write_iso  # only when mastering

    return plan, write_iso(plan, req.output, progress, mode=mode)[0]


def plan_has_tree(plan: IsoPlan) -> bool:
    """Whether a medium carries a snapshot or a stage (then it is mastered whole)."""
    return any(f.where.posix.startswith((f"{SNAPSHOT_DIR}/", f"{STAGE_DIR}/")) for f in plan.files)
