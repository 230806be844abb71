"""The TFTP tree: which file goes where (pure plan), and a thin applier that writes it.

    undionly.kpxe           iPXE for BIOS (DHCP client-arch 0)
    ipxe.efi | snponly.efi  iPXE for x86-64 UEFI (client-arch 7, 9)
    boot.ipxe               chain script to BASE/boot/${mac}.ipxe (for DHCP setups that hand
                            iPXE a TFTP name instead of the HTTP URL)
    pxelinux.0, ldlinux.c32, ipxe.lkrn, pxelinux.ipxe, pxelinux.cfg/default
                            optional BIOS alternative: pxelinux loads iPXE (ipxe.lkrn) with a
                            script (pxelinux.ipxe, its initrd) that goes straight to this
                            machine's HTTP boot script: iPXE's own DHCP answer (pxelinux.0
                            again, for every BIOS client) is not followed
    shimx64.efi, grubx64.efi, mmx64.efi, grub/grub.cfg
                            optional Secure Boot chain (--secure-boot): Microsoft-signed shim,
                            Debian's signed network GRUB, MokManager, and GRUB's first config
                            (provision.pxe.grubnet); the per-host configs (grub/hosts/*) and
                            the live kernel and initrd (live/*) are served from the store and
                            DATA_DIR/live by the server (provision serve --tftp)

Files are copied, not symlinked: the TFTP server refuses symlinks that lead out of its root.
"""

from __future__ import annotations

import filecmp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.pxe import grubnet, ipxe
from provision.pxe.bootloaders import Found, Loader, find
from provision.secureboot.files import LiveChain

IPXE_LKRN = Loader("ipxe.lkrn", ("ipxe.lkrn",), "ipxe", "sys-firmware/ipxe[lkrn]")

PXELINUX_DEFAULT = """\
# provision: pxelinux hands over to iPXE, which fetches this machine's boot script over HTTP
DEFAULT ipxe
PROMPT 0
TIMEOUT 0
LABEL ipxe
  KERNEL ipxe.lkrn
  INITRD pxelinux.ipxe
"""


@dataclass(frozen=True)
class TreeFile:
    """One file of the TFTP root: copied from `source` or written from `text`."""

    name: str
    source: Path | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if (self.source is None) == (self.text is None):
            raise ConfigError(self.name, "a TFTP tree file needs exactly one of source, text")


def plan_tree(
    found: Found,
    base_url: str,
    *,
    ipxe_lkrn: Path | None = None,
    secure_boot: LiveChain | None = None,
) -> list[TreeFile]:
    """The files of the TFTP root, sorted by name (pure)."""
    files = [
        TreeFile("undionly.kpxe", source=found.bios),
        TreeFile(found.uefi_name, source=found.uefi),
        TreeFile("boot.ipxe", text=ipxe.chain_script(base_url)),
    ]
    if found.pxelinux is not None and found.ldlinux is not None:
        if ipxe_lkrn is None:
            raise ConfigError("pxelinux", "needs ipxe.lkrn (iPXE as a Linux kernel image)")
        files += [
            TreeFile("pxelinux.0", source=found.pxelinux),
            TreeFile("ldlinux.c32", source=found.ldlinux),
            TreeFile("ipxe.lkrn", source=ipxe_lkrn),
            TreeFile("pxelinux.ipxe", text=ipxe.pxelinux_script(base_url)),
            TreeFile("pxelinux.cfg/default", text=PXELINUX_DEFAULT),
        ]
    if secure_boot is not None:
        files += [
            TreeFile("shimx64.efi", source=secure_boot.shim),
            TreeFile("grubx64.efi", source=secure_boot.grub),  # shim loads it from its dir
            TreeFile("mmx64.efi", source=secure_boot.mokmanager),
            TreeFile(grubnet.ROOT_CONFIG, text=grubnet.root_config()),
        ]
    return sorted(files, key=lambda f: f.name)


def find_ipxe_lkrn(search: Sequence[str] | None = None) -> Path:
    return find(IPXE_LKRN, search)


def write_tree(root: Path, files: Sequence[TreeFile]) -> list[str]:
    """Write the planned files under root (atomically; unchanged files are left alone).

    Returns the names written.
    """
    written = []
    for f in files:
        target = root / f.name
        if f.source is not None:
            if target.is_file() and filecmp.cmp(f.source, target, shallow=False):
                continue
            write_atomic(target, f.source.read_bytes())
        else:
            assert f.text is not None
            if target.is_file() and target.read_text() == f.text:
                continue
            write_atomic(target, f.text)
        written.append(f.name)
    return written
