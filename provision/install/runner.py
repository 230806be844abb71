"""Run an install: choose the disk and plan (pure), preflight (network, signatures) before
anything is wiped, then the steps in order, each recorded and resumable, with events."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from provision.errors import InstallError, ProvisionError
from provision.install import steps as step_registry
from provision.install.config import InstallConfig
from provision.install.context import InstallContext
from provision.install.disks import Choice, Disk, select_disk
from provision.install.events import Events
from provision.install.fetch import (
    Keyring,
    check_reachable,
    get_bytes,
    remove_tree,
    scratch_dir,
    verified_sha512,
)
from provision.install.plan import (
    PartitionPlan,
    own_disk_id,
    plan_partitions,
    render_sfdisk,
    required_size,
    resolve_firmware,
)
from provision.install.state import InstallState, load_state, save_state
from provision.profiles.model import Firmware, PartitionTable
from provision.run import tail_of

LOG_IN_TARGET = "var/log/provision-install.log"


@dataclass(frozen=True)
class Options:
    target: Path
    disk: str = ""  # a device path that overrides the profile's disk.select rule
    wipe: bool = False
    allow_removable: bool = False
    firmware: Firmware | None = None  # overrides the profile's disk.firmware
    efi_present: bool | None = None  # None: look at /sys/firmware/efi
    dry_run: bool = False
    unmount: bool = True


def choose(
    config: InstallConfig, disks: Iterable[Disk], options: Options, owned: Iterable[str] = ()
) -> tuple[Choice, PartitionPlan]:
    """The disk and its partition plan (pure).  `owned`: disks whose table this install wrote
    (a rerun after a power loss may reuse them without --wipe)."""
    layout = config.profile.disk
    efi = Path("/sys/firmware/efi").is_dir() if options.efi_present is None else options.efi_present
    firmware = resolve_firmware(options.firmware or layout.firmware, efi)
    rule = f"path:{options.disk}" if options.disk else layout.select
    owned = set(owned)
    choice = select_disk(
        disks,
        rule,
        min_size=required_size(layout, firmware),
        allow_removable=options.allow_removable,
        wipe=True,
    )
    wipe = options.wipe or config.wipe
    if choice.disk.has_partitions and not wipe and choice.disk.devnode not in owned:
        raise InstallError(
            f"{choice.disk.devnode} already holds partitions ({', '.join(choice.disk.partitions)});"
            " refusing to wipe it: mark the host for wipe on the server or pass --wipe"
        )
    plan = plan_partitions(
        layout,
        devnode=choice.disk.devnode,
        disk_size=choice.disk.size,
        firmware=firmware,
        seed=config.seed,
        sector_size=choice.disk.sector_size,
    )
    return choice, plan


def render_plan(ctx: InstallContext, choice: Choice | None = None) -> str:
    """The human-readable plan and every command, for --dry-run (pure)."""
    p = ctx.plan
    lines = [
        f"profile {ctx.config.profile.name}, host {ctx.config.host_id} "
        f"({ctx.config.settings.hostname}), target {ctx.target}",
        f"disk {ctx.disk.describe()}: {p.table} table, {p.firmware} firmware, id {p.disk_id}",
    ]
    for d, why in choice.rejected if choice else ():
        lines.append(f"  not {d.devnode}: {why}")
    for part in p.partitions:
        lines.append(
            f"  {part.number}: {part.role:5} {part.size >> 20:>8} MiB at {part.start >> 20} MiB"
            f"  {part.filesystem or '-':5} {part.mountpoint or '-'}  uuid {part.uuid or '-'}"
        )
    lines.append("sfdisk script:")
    lines += ["  " + ln for ln in render_sfdisk(p).splitlines()]
    for module in step_registry.all_steps():
        lines.append(f"step {module.NAME}:")
        lines += ["  " + ln for ln in module.describe(ctx)]
    return "\n".join(lines) + "\n"


def preflight(ctx: InstallContext, names: Iterable[str]) -> None:
    """Everything the steps `names` need that can fail without touching the disk: the key,
    the signed checksum of the stage, the stage, the system image (whether there is one: a
    server that cannot say fails here), the binhost and the repository snapshot."""
    src = ctx.config.sources
    names = set(names)
    if not src.key_url:
        raise InstallError("no server key URL: cannot verify the stage or the packages")
    ctx.keyring = Keyring(ctx.workdir / "gnupg", get_bytes(src.key_url), src.key_fingerprint)
    if "stage" in names:
        if not src.stage_url:
            raise InstallError(f"the server has no stage for profile {ctx.config.profile.name}")
        ctx.stage_sha512 = verified_sha512(src.stage_url, ctx.keyring, ctx.workdir)
        check_reachable(src.stage_url)
    if "image" in names:
        from provision.install.steps import image

        found = image.choice_of(ctx)
        ctx.note(f"image: {'found at ' + found.source if found.available else found.reason}")
    if names & {"portage", "packages"} or ("kernel" in names and ctx.config.profile.kernel.package):
        if not src.binhost_url:
            raise InstallError("no binhost URL for the packages")
        check_reachable(src.binhost_url.rstrip("/") + "/Packages")
    if "portage" in names:
        if not src.repo_url:
            raise InstallError(
                f"the server has no repository snapshot for profile {ctx.config.profile.name}"
            )
        check_reachable(src.repo_url)


def _owned(disks: Iterable[Disk], seed: str) -> list[str]:
    from provision.install.probe import read_table

    ids = {own_disk_id(seed, table) for table in PartitionTable}
    return [
        d.devnode for d in disks if d.has_partitions and read_table(d.devnode).id.upper() in ids
    ]


def install(
    config: InstallConfig,
    options: Options,
    disks: list[Disk],
    events: Events,
    modules: list[ModuleType] | None = None,
) -> InstallContext:
    """The whole install.  Raises a ProvisionError (after a failure event) on failure."""
    workdir = scratch_dir()
    try:
        choice, plan = choose(config, disks, options, _owned(disks, config.seed))
        ctx = InstallContext(
            target=options.target,
            config=config,
            disk=choice.disk,
            plan=plan,
            events=events,
            workdir=workdir,
            dry_run=options.dry_run,
            unmount=options.unmount,
        )
        if options.dry_run:
            print(render_plan(ctx, choice), end="", file=events.out, flush=True)
            return ctx
        ctx.log_path.touch()
        modules = modules or step_registry.all_steps()
        preflight(ctx, [m.NAME for m in modules])
        _run_steps(ctx, modules)
        return ctx
    finally:
        remove_tree(workdir)


def _run_steps(ctx: InstallContext, modules: list[ModuleType]) -> None:
    ev = ctx.events
    ev.emit("start", message=f"installing {ctx.config.profile.name} on {ctx.disk.describe()}")
    state: InstallState | None = None
    current = ""
    try:
        for index, module in enumerate(modules):
            current = module.NAME
            progress = index / len(modules)
            if module.NAME in step_registry.BEFORE_MOUNT:
                done = bool(module.is_done(ctx))
            else:
                if state is None:
                    state = _state_after_mount(ctx)
                done = state.is_done(module.NAME)
            if done:
                ev.emit("progress", module.NAME, "already done (resumed)", progress)
                continue
            ev.emit("progress", module.NAME, "started", progress)
            module.apply(ctx)
            if module.NAME not in step_registry.BEFORE_MOUNT:
                assert state is not None
                state.mark(module.NAME)
                save_state(ctx.target, state)
        current = "finish"
        state = state or _state_after_mount(ctx)
        state.finished = time.time()
        save_state(ctx.target, state)
        ctx.path(LOG_IN_TARGET).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ctx.log_path, ctx.path(LOG_IN_TARGET))
        if ctx.unmount:
            ctx.sh(["umount", "--recursive", str(ctx.target)])
    except (ProvisionError, OSError) as exc:
        ev.emit("failure", current, str(exc), log_tail=tail_of(ctx.log_path, 8192))
        if isinstance(exc, ProvisionError):
            raise
        raise InstallError(f"step {current}: {exc}") from exc
    ev.emit(
        "finish", message=f"installed {ctx.config.profile.name} on {ctx.disk.devnode}", progress=1.0
    )


def _state_after_mount(ctx: InstallContext) -> InstallState:
    state = load_state(ctx.target, ctx.config.seed)
    for name in step_registry.BEFORE_MOUNT:
        state.mark(name)
    save_state(ctx.target, state)
    return state
