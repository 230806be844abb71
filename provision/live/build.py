"""`provision live build`: the live environment (vmlinuz + initrd.img) that runs the installer.

The initrd is a whole root filesystem (the kernel unpacks it into RAM and runs /init): a base
(Debian via debootstrap, or a Gentoo stage3 tarball), this project installed with pip into
/usr/local, the kernel's storage/network/filesystem modules, and /init, which brings the
network up with busybox udhcpc and runs `provision install` (its settings come from the
kernel command line: provision.server= provision.profile= provision.host= provision.token=).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import stat
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import provision
from provision.errors import ConfigError
from provision.fsutil import atomic_output, copy_atomic, write_atomic
from provision.live import cpio
from provision.live.debian import debian_base
from provision.live.initramfs import find_kernel, write_initramfs
from provision.live.modules import modules_dir_for, resolve
from provision.run import run

PY_SITE = "/usr/local/lib/python3.11/site-packages"
ENTRY = "#!/usr/bin/python3\nimport sys\n\nfrom provision.cli import main\n\nsys.exit(main())\n"
INIT = r"""#!/bin/sh
# provision live environment: network up, then the installer.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# what udev would add: Portage's bash needs /dev/fd (process substitution) in the chroot
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do
  [ -e "/dev/${i#*:}" ] || ln -s "/proc/self/fd/${i%%:*}" "/dev/${i#*:}"
done
mkdir -p /dev/pts /run /tmp /mnt/gentoo
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
[ -d /sys/firmware/efi ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
echo "provision-live: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s)"
modprobe -a -q $(cat /etc/provision/modules) 2>/dev/null
busybox ip link set lo up
up=""
for dev in /sys/class/net/*; do
  name=${dev##*/}
  [ "$name" = lo ] && continue
  busybox ip link set "$name" up
  if busybox udhcpc -i "$name" -n -q -t 10 -T 2 -s /etc/provision/udhcpc.script; then
    up=$name; break
  fi
done
echo "provision-live: network ${up:-not configured}"
after=reboot
for arg in $(cat /proc/cmdline); do
  case "$arg" in provision.after=*) after=${arg#provision.after=};; esac
done
provision install
rc=$?
echo "provision-live: installer exited with status $rc"
sync
if [ "$after" = poweroff ]; then busybox poweroff -f; fi
if [ $rc -eq 0 ] && [ "$after" = reboot ]; then busybox reboot -f; fi
echo "provision-live: a shell (the installer's log: /tmp/provision-install-*/install.log)"
exec /bin/sh </dev/console >/dev/console 2>&1
"""
UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc hook: configure the interface from the DHCP lease (busybox ip).
case "$1" in
  deconfig) busybox ip addr flush dev "$interface"; busybox ip link set "$interface" up ;;
  bound|renew)
    busybox ip addr flush dev "$interface"
    busybox ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      busybox ip route add default via "${router%% *}" dev "$interface"
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    ;;
esac
exit 0
"""


class LiveBase(StrEnum):
    """What the live environment's root file system starts from."""

    DEBOOTSTRAP = "debootstrap"  # a Debian base made with debootstrap (cached)
    STAGE3 = "stage3"  # a Gentoo stage3 tarball


@dataclass(frozen=True)
class LiveSpec:
    out_dir: Path
    cache: Path
    base: LiveBase = LiveBase.DEBOOTSTRAP
    stage3: Path | None = None
    kernel: Path | None = None  # default: the newest /boot/vmlinuz-*
    mirror: str = ""
    project: Path | None = None  # source tree of this project (default: the running one)
    zstd_level: int = 9

    def __post_init__(self) -> None:
        if not isinstance(self.base, LiveBase):
            raise TypeError(f"LiveSpec.base: {self.base!r} is not a LiveBase")
        if self.base is LiveBase.STAGE3 and (self.stage3 is None or not self.stage3.is_file()):
            raise ConfigError("--base stage3", f"{self.stage3}: no such stage3 tarball")


def project_source(explicit: Path | None = None) -> Path:
    """The directory holding the `provision` package: --project, else the running one's (a
    checkout, or site-packages of an installed wheel)."""
    src = explicit or Path(provision.__file__).resolve().parents[1]
    if not (src / "provision" / "__init__.py").is_file():
        raise ConfigError("--project", f"{src}: no provision package there")
    return src


def tree_entries(root: Path) -> Iterator[cpio.Entry]:
    """cpio entries for a directory tree (dirs, files, symlinks; other types skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in [*dirnames, *sorted(filenames)]:
            path = base / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                yield cpio.symlink(rel, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                yield cpio.directory(rel, perm)
            elif stat.S_ISREG(st.st_mode):
                yield cpio.Entry(rel, stat.S_IFREG | perm, source=path, mtime=int(st.st_mtime))


def project_dependencies(source: Path) -> list[str]:
    """The runtime dependencies: pyproject.toml in a checkout, else the installed metadata."""
    if (source / "pyproject.toml").is_file():
        with open(source / "pyproject.toml", "rb") as fh:
            deps = tomllib.load(fh)["project"]["dependencies"]
        return [str(d) for d in deps]
    return runtime_requirements(importlib.metadata.requires("provision") or [])


def runtime_requirements(requires: list[str]) -> list[str]:
    """Pure: Requires-Dist lines without the optional extras (`; extra == "test"`)."""
    return [r.split(";", 1)[0].strip() for r in requires if "extra==" not in r.replace(" ", "")]


def _python_deps(cache: Path, deps: list[str]) -> Path:
    """The project's PyPI dependencies installed under a --root tree, cached per list."""
    key = hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()[:12]
    out = cache / f"live-pydeps-{key}"
    if (out / ".done").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    run(
        [
            sys.executable, "-m", "pip", "install", "-q", "--root", str(out), "--prefix",
            "/usr/local", "--ignore-installed", "--no-warn-script-location", *deps,
        ],
        timeout=900,
    )  # fmt: skip
    (out / ".done").touch()
    return out


def _install_project(root: Path, source: Path, cache: Path) -> None:
    """Dependencies from PyPI (cached), then the project's packages copied from the tree."""
    deps = _python_deps(cache, project_dependencies(source))
    shutil.copytree(deps / "usr", root / "usr", symlinks=True, dirs_exist_ok=True)
    site = root / PY_SITE.lstrip("/")
    for package in ("provision",):
        if (source / package).is_dir():
            shutil.rmtree(site / package, ignore_errors=True)
            shutil.copytree(
                source / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
            )
    write_atomic(root / "usr/lib/python3/dist-packages/provision-live.pth", PY_SITE + "\n")
    for script in (root / "usr/local/bin").iterdir():
        if not script.is_file() or script.is_symlink():
            continue
        data = script.read_bytes()
        first, _, body = data.partition(b"\n")
        if first.startswith(b"#!") and b"python" in first:
            script.write_bytes(b"#!/usr/bin/python3\n" + body)
    write_atomic(root / "usr/local/bin/provision", ENTRY, 0o755)


def _install_modules(root: Path, modules_dir: Path) -> list[str]:
    dep = modules_dir / "modules.dep"
    if not dep.is_file():
        raise ConfigError(str(modules_dir), "no modules.dep: the kernel's modules are missing")
    files, names = resolve(dep.read_text())
    dest = root / "lib/modules" / modules_dir.name
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(modules_dir / rel, dest / rel)
    for meta in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (modules_dir / meta).is_file():
            shutil.copyfile(modules_dir / meta, dest / meta)
    run(["depmod", "-b", str(root), modules_dir.name])
    return names


def build_live(spec: LiveSpec) -> tuple[Path, Path]:
    """Make out_dir/vmlinuz and out_dir/initrd.img; returns both paths."""
    kernel = spec.kernel or find_kernel()
    modules_dir = modules_dir_for(kernel)
    source = project_source(spec.project)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    base = spec.stage3 if spec.base is LiveBase.STAGE3 else debian_base(spec.cache, spec.mirror)
    assert base is not None
    work = spec.out_dir / f".work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    root.mkdir(parents=True)
    try:
        run(["tar", "-xpf", str(base), "-C", str(root), "--numeric-owner"], timeout=900)
        _install_project(root, source, spec.cache)
        names = _install_modules(root, modules_dir)
        write_atomic(root / "init", INIT, 0o755)
        write_atomic(root / "etc/provision/udhcpc.script", UDHCPC_SCRIPT, 0o755)
        write_atomic(root / "etc/provision/modules", "\n".join(names) + "\n")
        write_atomic(root / "etc/hostname", "provision-live\n")
        raw = work / "initrd.cpio"
        (root / "dev").mkdir(exist_ok=True)
        entries = [*tree_entries(root), cpio.chardev("dev/console", 5, 1)]
        write_initramfs(raw, entries, compress=False)
        initrd = spec.out_dir / "initrd.img"
        with atomic_output(initrd) as tmp:
            run(["zstd", "-q", "-f", "-T0", f"-{spec.zstd_level}", str(raw), "-o", str(tmp)])
        vmlinuz = spec.out_dir / "vmlinuz"
        copy_atomic(kernel, vmlinuz, 0o644)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return vmlinuz, initrd
