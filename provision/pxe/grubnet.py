"""Secure Boot over PXE: what Debian's signed network GRUB reads over TFTP (pure renderers).

The chain (full DHCP mode): the firmware's PXE client loads shimx64.efi (Microsoft-signed) by
TFTP; shim loads grubx64.efi (= Debian's signed grubnetx64.efi) from the same TFTP directory;
GRUB reads $prefix/grub.cfg = /grub/grub.cfg at the TFTP root (our `root_config`), which reads
this machine's own config, /grub/hosts/<MAC>.cfg (its MAC as GRUB's $net_default_mac spells
it).  The TFTP server renders that file per host from the store (provision.server.tftpboot),
as the HTTP server renders iPXE scripts:

- a host with a profile → the live kernel and initrd (TFTP /live/vmlinuz, /live/initrd.img;
  Debian's GRUB has no HTTP) with the provision.* kernel arguments;
- an installed host (boot-once) → `exit`, back to the firmware's next boot entry;
- no profile → the live environment, to report the hardware and wait for a profile (as iPXE's
  discovery); without a live environment a menu of the profiles (choosing one asks for
  /grub/hosts/<MAC>/<PROFILE>.cfg, which sets it), the web picker's address, "check again",
  "boot from disk".

GRUB's own lockdown variable says whether Secure Boot is on: the menus show it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from provision.errors import ConfigError
from provision.hosts import Host
from provision.names import Mac
from provision.pxe.ipxe import DEFAULT_KERNEL_ARGS, InstallBoot, kernel_cmdline, picker_url

ROOT_CONFIG = "grub/grub.cfg"
HOSTS_DIR = "grub/hosts"
LIVE_KERNEL = "live/vmlinuz"
LIVE_INITRD = "live/initrd.img"
LIVE_FILES = {LIVE_KERNEL: "vmlinuz", LIVE_INITRD: "initrd.img"}  # TFTP name → DATA_DIR/live/
# What may stand in a GRUB script unquoted without being expanded or split.
_WORD = re.compile(r"[A-Za-z0-9._~:/%@+=,-]+\Z")
_TEXT = re.compile(r"[A-Za-z0-9._~:/%@+=,?&()' -]*\Z")  # inside "...": no $, \, ", `
_HOST_PATH = re.compile(
    rf"{HOSTS_DIR}/([0-9a-fA-F]{{2}}(?::[0-9a-fA-F]{{2}}){{5}})"
    r"(?:/([A-Za-z0-9][A-Za-z0-9._+-]{0,63}))?\.cfg\Z"
)

HEADER = """\
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
if [ "$lockdown" = "y" ]; then set provision_sb=on; else set provision_sb=off; fi
"""


def _word(field: str, value: str, pattern: re.Pattern[str] = _WORD) -> str:
    if not pattern.match(value):
        raise ConfigError(field, f"{value!r} cannot go into a GRUB script")
    return value


def root_config() -> str:
    """/grub/grub.cfg: hand over to this machine's own config."""
    return (
        "# provision: Debian's signed network GRUB reads this first (TFTP /grub/grub.cfg)\n"
        + HEADER
        + "configfile $prefix/hosts/${net_default_mac}.cfg\n"
        + 'echo "provision: no boot config for ${net_default_mac} from the TFTP server"\n'
        + "sleep 10\n"
        + "reboot\n"
    )


@dataclass(frozen=True)
class HostRequest:
    """A request for /grub/hosts/<MAC>.cfg, or /grub/hosts/<MAC>/<PROFILE>.cfg (a choice)."""

    mac: str
    profile: str = ""


def parse_host_path(relative: str) -> HostRequest | None:
    """The host a TFTP name asks about; None for any other name (pure)."""
    found = _HOST_PATH.match(relative)
    if found is None:
        return None
    return HostRequest(str(Mac(found.group(1))), found.group(2) or "")


def install_config(boot: InstallBoot, boot_line: str = "") -> str:
    """Boot the live environment (installer) over TFTP."""
    cmdline = kernel_cmdline(boot)
    for word in cmdline.split():
        _word("kernel argument", word)
    title = f"Install {_word('profile', boot.profile)} on {_word('mac', boot.mac)}"
    return (
        f"# provision: {title}\n"
        + HEADER
        + "set timeout=0\n"
        + f'echo "provision: {title} ({_word("boot", boot_line or "PXE/TFTP", _TEXT)}, '
        + 'Secure Boot $provision_sb)"\n'
        + f"menuentry '{title}' {{\n"
        + f"  linux /{LIVE_KERNEL} {cmdline}\n"
        + f"  initrd /{LIVE_INITRD}\n"
        + "}\n"
    )


def discover_config(
    base_url: str, mac: str, token: str, kernel_args: str = DEFAULT_KERNEL_ARGS
) -> str:
    """No profile yet, and a live environment: boot it to report the hardware and wait for a
    profile (the rules or the web picker), as iPXE's discovery does."""
    words = [
        "initrd=initrd.img", *kernel_args.split(), f"provision.server={base_url.rstrip('/')}",
        f"provision.host={mac}", f"provision.token={token}", "provision.boot=pxe",
    ]  # fmt: skip
    cmdline = " ".join(_word("kernel argument", w) for w in words)
    picker = _word("picker url", picker_url(base_url, mac), _TEXT)
    return (
        f"# provision: {mac} has no profile yet: discover its hardware\n"
        + HEADER
        + "set timeout=0\n"
        + f'echo "provision: {mac} has no profile yet (PXE/TFTP, Secure Boot $provision_sb)"\n'
        + f'echo "provision: discovering its hardware; choose a profile at {picker}"\n'
        + "menuentry 'Discover this machine' {\n"
        + f"  linux /{LIVE_KERNEL} {cmdline}\n"
        + f"  initrd /{LIVE_INITRD}\n"
        + "}\n"
    )


def local_config(mac: str, hostname: str = "") -> str:
    """Installed (boot-once): leave GRUB; the firmware tries its next boot entry."""
    who = _word("hostname", hostname) if hostname else ""
    name = f"{who} ({mac})" if who else mac
    return (
        f"# provision: {name} is installed\n"
        + HEADER
        + f'echo "provision: {name} is installed; leaving for the next boot entry"\n'
        + "exit\n"
    )


def menu_config(
    base_url: str, mac: str, profiles: Sequence[str], *, message: str = "", timeout_s: int = 60
) -> str:
    """No profile yet: choose here (GRUB menu) or in the web picker, then check again."""
    picker = _word("picker url", picker_url(base_url, mac), _TEXT)
    lines = [
        f"# provision: {mac} has no profile yet",
        HEADER.rstrip("\n"),
        f"set timeout={timeout_s}",
        "set default=retry",
        f'echo "provision: {mac} has no profile yet (PXE/TFTP, Secure Boot $provision_sb)"',
        f'echo "provision: choose one below or at {picker}"',
    ]
    if message:
        lines.append(f'echo "provision: {_word("message", message, _TEXT)}"')
    for name in profiles:
        _word("profile", name)
        lines += [
            f"menuentry 'Install profile {name}' {{",
            f"  configfile $prefix/hosts/${{net_default_mac}}/{name}.cfg",
            "}",
        ]
    lines += [
        "menuentry 'Check again (after choosing in the web picker)' --id retry {",
        "  configfile $prefix/hosts/${net_default_mac}.cfg",
        "}",
        "menuentry 'Boot from local disk' {",
        "  exit",
        "}",
    ]
    return "\n".join(lines) + "\n"


def config_for(
    host: Host,
    profiles: Sequence[str],
    base_url: str,
    *,
    kernel_args: str = DEFAULT_KERNEL_ARGS,
    discover: bool = False,
) -> str:
    """The answer to /grub/hosts/<MAC>.cfg for a host the store knows (pure); `discover`: the
    server has a live environment to discover hosts without a profile."""
    if host.boot_local:
        return local_config(host.mac, host.hostname)
    if host.profile and host.profile in profiles:
        return install_config(
            InstallBoot(base_url, host.mac, host.profile, host.token, kernel_args)
        )
    if discover:
        return discover_config(base_url, host.mac, host.token, kernel_args)
    message = f"profile '{host.profile}' no longer exists" if host.profile else ""
    return menu_config(base_url, host.mac, profiles, message=message)
