"""fstab by UUID, hostname, hosts, network, root's SSH keys and password hash."""

from __future__ import annotations

from provision.fsutil import write_atomic
from provision.install.context import InstallContext
from provision.install.render import (
    render_authorized_keys,
    render_fstab,
    render_hostname,
    render_hosts,
    render_netifrc,
    render_networkd,
    set_shadow_password,
)

NAME = "system"
SYSTEMD = ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")


def uses_systemd(ctx: InstallContext) -> bool:
    return any(ctx.path(p).exists() for p in SYSTEMD)


def system_files(ctx: InstallContext, uuids: dict[int, str]) -> dict[str, str]:
    """Path in the target → content (pure apart from the systemd check)."""
    s = ctx.config.settings
    files = {
        "/etc/fstab": render_fstab(ctx.plan, uuids),
        "/etc/hostname": render_hostname(s.hostname),
        "/etc/conf.d/hostname": f'hostname="{s.hostname}"\n',
        "/etc/hosts": render_hosts(s.hostname),
    }
    if uses_systemd(ctx):
        files["/etc/systemd/network/50-provision.network"] = render_networkd(s.network)
    else:
        files["/etc/conf.d/net"] = render_netifrc(s.network)
    return files


def describe(ctx: InstallContext) -> list[str]:
    planned = {p.number: p.uuid for p in ctx.plan.partitions if p.filesystem}
    out = [f"write {ctx.path(p)}" for p in system_files(ctx, planned)]
    s = ctx.config.settings
    if s.ssh_authorized_keys:
        out.append(
            f"write {ctx.path('/root/.ssh/authorized_keys')} ({len(s.ssh_authorized_keys)} keys)"
        )
    if s.root_password_hash:
        out.append(f"set root's password hash in {ctx.path('/etc/shadow')}")
    return out


def apply(ctx: InstallContext) -> None:
    for path, text in system_files(ctx, ctx.read_uuids()).items():
        write_atomic(ctx.path(path), text)
    s = ctx.config.settings
    if s.ssh_authorized_keys:
        ssh = ctx.path("/root/.ssh")
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        ssh.chmod(0o700)
        write_atomic(ssh / "authorized_keys", render_authorized_keys(s.ssh_authorized_keys), 0o600)
    if s.root_password_hash:
        shadow = ctx.path("/etc/shadow")
        old = shadow.read_text() if shadow.exists() else ""
        write_atomic(shadow, set_shadow_password(old, "root", s.root_password_hash), 0o640)
