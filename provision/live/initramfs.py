"""Initramfs images built from busybox (static) and an /init script; no root needed.

`marker_entries()` makes the smallest live system: it prints a marker line and the kernel
command line on the console and powers off.  Boot tests (PXE, ISO) use it to prove that the
chain delivered our kernel and initrd; the full live environment builds on the same writer.
On UEFI it also prints what the firmware says (efivarfs, with the kernel's own signed
efivarfs.ko when it is a module): `MARKER secureboot=1|0`, the BootCurrent variable and the
boot option it names (hex), from which provision.install.bootinfo tells the boot path.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import atomic_output
from provision.live import cpio

BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox")
KERNEL_GLOBS = ("/boot/vmlinuz-*", "/usr/lib/kernel/vmlinuz-*")
MARKER = "PROVISION-LIVE-MARKER"

MARKER_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "{marker} cmdline: $(cat /proc/cmdline)"
for arg in $(cat /proc/cmdline); do
  case "$arg" in provision.*) echo "{marker} $arg";; esac
done
if [ -d /sys/firmware/efi ]; then
  [ -f /lib/efivarfs.ko ] && insmod /lib/efivarfs.ko
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars
  v=/sys/firmware/efi/efivars
  g=8be4df61-93ca-11d2-aa0d-00e098032b8c
  echo "{marker} firmware=uefi"
  if [ -f $v/SecureBoot-$g ]; then
    sb=$(od -An -tx1 -v $v/SecureBoot-$g | tr -d ' \n')
    echo "{marker} efivar SecureBoot $sb"
    echo "{marker} secureboot=${{sb:9:1}}"
  fi
  if [ -f $v/BootCurrent-$g ]; then
    cur=$(od -An -tx1 -v $v/BootCurrent-$g | tr -d ' \n')
    echo "{marker} efivar BootCurrent $cur"
    opt=Boot$(echo "${{cur:10:2}}${{cur:8:2}}" | tr a-f A-F)
    [ -f $v/$opt-$g ] && echo "{marker} efivar $opt $(od -An -tx1 -v $v/$opt-$g | tr -d ' \n')"
  fi
  mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
  lock=/sys/kernel/security/lockdown
  [ -f $lock ] && echo "{marker} lockdown $(cat $lock)"
else
  echo "{marker} firmware=bios"
fi
echo "{marker} done"
sync
poweroff -f
"""


def find_busybox() -> Path:
    for candidate in BUSYBOX_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError("busybox", "no static busybox found (Debian: apt install busybox-static)")


def find_kernel() -> Path:
    """The newest distribution kernel image on this machine (Debian: linux-image-amd64)."""
    found: list[Path] = []
    for pattern in KERNEL_GLOBS:
        found += sorted(Path("/").glob(pattern.lstrip("/")))
    if not found:
        raise ConfigError(
            "kernel", "no kernel image in /boot (Debian: apt install linux-image-amd64)"
        )
    return found[-1]


def base_entries(busybox: Path, init_script: str) -> Iterator[cpio.Entry]:
    """A minimal root: /bin/busybox, /init, the directories and /dev/console."""
    for d in (
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "etc",
        "root",
        "mnt",
        "run",
        "sbin",
        "usr",
        "usr/bin",
    ):
        yield cpio.directory(d)
    yield cpio.chardev("dev/console", 5, 1)
    yield cpio.file("bin/busybox", source=busybox, perm=0o755)
    yield cpio.symlink("bin/sh", "busybox")
    yield cpio.file("init", data=init_script.encode(), perm=0o755)


def marker_entries(
    busybox: Path | None = None, marker: str = MARKER, efivarfs: Path | None = None
) -> Iterator[cpio.Entry]:
    """The marker system; efivarfs: the kernel's efivarfs.ko (copied byte for byte: under
    Secure Boot's lockdown only its signed module loads)."""
    yield from base_entries(busybox or find_busybox(), MARKER_INIT.format(marker=marker))
    yield cpio.directory("lib")
    if efivarfs is not None and efivarfs.is_file():
        yield cpio.file("lib/efivarfs.ko", source=efivarfs, perm=0o644)


def efivarfs_module(kernel: Path) -> Path | None:
    """The kernel's efivarfs.ko, when efivarfs is a module (Debian: CONFIG_EFIVAR_FS=m)."""
    from provision.live.modules import modules_dir_for

    found = sorted(modules_dir_for(kernel).glob("kernel/fs/efivarfs/efivarfs.ko*"))
    return found[0] if found and found[0].suffix == ".ko" else None


def write_initramfs(path: Path, entries: Iterable[cpio.Entry], *, compress: bool = True) -> None:
    """Write a (gzip-compressed) newc initramfs atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as raw:
        stream = (
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) if compress else raw
        )
        writer = cpio.CpioWriter(stream)  # type: ignore[arg-type]
        for entry in entries:
            writer.add(entry)
        writer.close()
        if compress:
            stream.close()


def make_marker_bootkit(out_dir: Path, marker: str = MARKER) -> tuple[Path, Path]:
    """kernel + marker initrd in out_dir (vmlinuz, initrd.img); returns both paths."""
    kernel = out_dir / "vmlinuz"
    initrd = out_dir / "initrd.img"
    out_dir.mkdir(parents=True, exist_ok=True)
    source = find_kernel()
    if not kernel.exists():
        shutil.copyfile(source, kernel)
    write_initramfs(initrd, marker_entries(marker=marker, efivarfs=efivarfs_module(source)))
    return kernel, initrd
