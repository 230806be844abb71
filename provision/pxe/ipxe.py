"""iPXE scripts, rendered per host (pure functions returning text).

The chain: DHCP hands out iPXE; iPXE (user class "iPXE") gets `BASE/boot/boot.ipxe`, which
chains to `BASE/boot/${mac}.ipxe`; that answer depends on the host:

- known host with a profile, not installed → kernel + initrd of the live environment over HTTP,
  with provision.server/profile/host/token on the kernel command line;
- installed host (`boot_local`, boot-once) → local disk;
- unknown host, or no profile yet → discovery when the server has a live environment: the
  live environment boots without a profile, reports the machine's hardware, and waits until
  the rules (or someone in the web picker) give it a profile, then installs it; without a live
  environment, a menu of profiles and the web picker's address.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from provision.errors import ConfigError
from provision.hosts import Host

DEFAULT_KERNEL_ARGS = "console=tty0 console=ttyS0,115200"
KERNEL_PATH = "/boot/live/vmlinuz"
INITRD_PATH = "/boot/live/initrd.img"
# What may appear in a script without iPXE expanding or splitting it.
_SAFE = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]*\Z")
_NAME = re.compile(r"[A-Za-z0-9._-]+\Z")
_TEXT = re.compile(r"[^$\x00-\x1f\x7f-\x9f\u2028\u2029]*\Z")  # echo/menu text: printable, no ${}
_ARGS = re.compile(r"[A-Za-z0-9._~:/,=+@%-]*( [A-Za-z0-9._~:/,=+@%-]+)*\Z")


def _check(field: str, value: str, pattern: re.Pattern[str] = _SAFE) -> str:
    if not pattern.match(value):
        raise ConfigError(field, f"{value!r} cannot go into an iPXE script (unsafe characters)")
    return value


def _base(base_url: str) -> str:
    _check("base_url", base_url)
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("base_url", f"{base_url!r} is not an http:// or https:// URL")
    return base_url.rstrip("/")


def chain_script(base_url: str) -> str:
    """boot.ipxe: hand over to the per-host script (${mac} is aa:bb:cc:dd:ee:ff)."""
    base = _base(base_url)
    return (
        "#!ipxe\n"
        "# provision: chain to this machine's own boot script\n"
        f"chain --autofree {base}/boot/${{mac}}.ipxe || goto failed\n"
        ":failed\n"
        "echo provision: could not fetch the boot script from the server; retrying in 10 s\n"
        "sleep 10\n"
        f"chain --autofree {base}/boot/${{mac}}.ipxe\n"
    )


def pxelinux_script(base_url: str) -> str:
    """pxelinux.ipxe: the script ipxe.lkrn runs when pxelinux hands over (its initrd).

    iPXE asks DHCP again but does not follow the file name it gets (pxelinux.0, which a
    pxelinux-mode DHCP server gives every BIOS client): it goes to the per-host script."""
    base = _base(base_url)
    return (
        "#!ipxe\n"
        "# provision: pxelinux handed over to iPXE; straight to this machine's boot script\n"
        "dhcp || goto failed\n"
        f"chain --autofree {base}/boot/${{mac}}.ipxe || goto failed\n"
        ":failed\n"
        "echo provision: could not fetch the boot script from the server; retrying in 10 s\n"
        "sleep 10\n"
        "dhcp ||\n"
        f"chain --autofree {base}/boot/${{mac}}.ipxe\n"
    )


@dataclass(frozen=True)
class InstallBoot:
    """What the installer kernel needs to know."""

    base_url: str
    mac: str
    profile: str
    token: str
    kernel_args: str = DEFAULT_KERNEL_ARGS


def kernel_cmdline(boot: InstallBoot) -> str:
    base = _base(boot.base_url)
    _check("kernel_args", boot.kernel_args, _ARGS)
    args = [
        "initrd=initrd.img",  # names the initrd for the EFI stub under UEFI iPXE
        boot.kernel_args,
        f"provision.server={base}",
        f"provision.profile={_check('profile', boot.profile, _NAME)}",
        f"provision.host={_check('mac', boot.mac, _NAME_OR_MAC)}",
        f"provision.token={_check('token', boot.token, _NAME)}",
        "provision.boot=pxe",  # BIOS has no firmware record of it (provision.install.bootinfo)
    ]
    return " ".join(a for a in args if a)


_NAME_OR_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def discover_script(
    base_url: str, mac: str, token: str, kernel_args: str = DEFAULT_KERNEL_ARGS
) -> str:
    """Boot the live environment for a host with no profile: it reports its hardware and
    waits for a profile (rules or the web picker), then installs."""
    base = _base(base_url)
    _check("kernel_args", kernel_args, _ARGS)
    args = [
        "initrd=initrd.img",
        kernel_args,
        f"provision.server={base}",
        f"provision.host={_check('mac', mac, _NAME_OR_MAC)}",
        f"provision.token={_check('token', token, _NAME)}",
    ]
    cmdline = " ".join(a for a in args if a)
    return (
        "#!ipxe\n"
        f"echo provision: {mac} has no profile yet: discovering its hardware\n"
        f"echo provision: a profile comes from the rules or from {picker_url(base_url, mac)}\n"
        f"kernel {base}{KERNEL_PATH} {cmdline} || goto failed\n"
        f"initrd --name initrd.img {base}{INITRD_PATH} || goto failed\n"
        "boot || goto failed\n"
        ":failed\n"
        "echo provision: could not load the live environment; retrying in 10 s\n"
        "sleep 10\n"
        f"chain --autofree {base}/boot/{mac}.ipxe\n"
    )


def install_script(boot: InstallBoot) -> str:
    """Boot the live environment (installer) for a known host."""
    base = _base(boot.base_url)
    return (
        "#!ipxe\n"
        f"echo provision: installing profile {boot.profile} on {boot.mac}\n"
        f"kernel {base}{KERNEL_PATH} {kernel_cmdline(boot)} || goto failed\n"
        f"initrd --name initrd.img {base}{INITRD_PATH} || goto failed\n"
        "boot || goto failed\n"
        ":failed\n"
        "echo provision: could not load the installer; retrying in 10 s\n"
        "sleep 10\n"
        f"chain --autofree {base}/boot/{boot.mac}.ipxe\n"
    )


def local_script(mac: str, hostname: str = "") -> str:
    """Boot from the local disk: iPXE `exit` hands back to the firmware's next boot entry
    (UEFI); under BIOS `sanboot` of the first disk comes first, then `exit`."""
    who = f"{hostname} ({mac})" if hostname else mac
    _check("hostname", who, _TEXT)
    return (
        "#!ipxe\n"
        f"echo provision: {who} is installed; booting from local disk\n"
        "iseq ${platform} efi && goto exit ||\n"
        "sanboot --no-describe --drive 0x80 ||\n"
        ":exit\n"
        "echo provision: no local boot here; leaving iPXE (exit)\n"
        "exit\n"
    )


def picker_url(base_url: str, mac: str) -> str:
    return f"{_base(base_url)}/picker?mac={quote(mac, safe='')}"


def menu_script(
    base_url: str,
    mac: str,
    profiles: Sequence[str],
    *,
    message: str = "",
    timeout_s: int = 60,
    booted: str = "",
) -> str:
    """For a host without a profile: choose one here or in the web picker, then retry.

    booted: how the machine booted, e.g. "UEFI HTTP boot, Secure Boot off"."""
    base = _base(base_url)
    _check("mac", mac, _NAME_OR_MAC)
    picker = picker_url(base_url, mac)
    lines = [
        "#!ipxe",
        f"echo provision: {mac} has no profile yet",
        f"echo provision: choose one below or at {picker}",
    ]
    if booted:
        lines.append(f"echo provision: booted by {_check('booted', booted, _TEXT)}")
    lines.append(f"menu provision: choose a profile for {mac}")
    if booted:
        lines.append(f"item --gap -- Booted by {booted}")
    if message:
        lines.append(f"item --gap -- {_check('message', message, _TEXT)}")
    lines.append("item --gap -- Profiles:")
    for i, name in enumerate(profiles):
        lines.append(f"item p{i} {_check('profile', name, _NAME)}")
    lines += [
        "item --gap -- Or pick a profile in a browser:",
        f"item --gap -- {picker}",
        "item retry Check again (after choosing in the web picker)",
        "item local Boot from local disk",
        f"choose --default retry --timeout {timeout_s * 1000} target || goto retry",
        "goto ${target}",
    ]
    for i, name in enumerate(profiles):
        lines += [f":p{i}", f"chain --autofree {base}/boot/{mac}.ipxe?profile={name}"]
    lines += [
        ":retry",
        f"chain --autofree {base}/boot/{mac}.ipxe",
        ":local",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def script_for(
    host: Host,
    profiles: Sequence[str],
    base_url: str,
    *,
    kernel_args: str = DEFAULT_KERNEL_ARGS,
    discover: bool = False,
    booted: str = "",
) -> str:
    """The answer to GET /boot/<mac>.ipxe for a host that the store knows (pure).
    `discover`: the server has a live environment to discover hosts without a profile;
    `booted`: how the machine booted (the profile menu shows it)."""
    if host.boot_local:
        return local_script(host.mac, host.hostname)
    if host.profile and host.profile in profiles:
        return install_script(
            InstallBoot(base_url, host.mac, host.profile, host.token, kernel_args)
        )
    if discover:
        return discover_script(base_url, host.mac, host.token, kernel_args)
    message = f"profile {host.profile!r} no longer exists" if host.profile else ""
    return menu_script(base_url, host.mac, profiles, message=message, booted=booted)
