"""The shared base of every medium: bootloader files found on the server, the cached ESP image.

BIOS boots isolinux (Debian: isolinux + syslinux-common; Gentoo: sys-boot/syslinux).  UEFI boots
GRUB from a small FAT image (the ESP): `grub-mkstandalone` builds BOOTX64.EFI with a config that
finds the medium by its mark file and reads /boot/grub/grub.cfg from it, so the ESP holds no
per-medium data and is built once per GRUB installation (cached under DATA_DIR/cache/iso).
mkfs.vfat + mtools fill the image without root and without mounting anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provision import digest
from provision.errors import ConfigError
from provision.fsutil import atomic_output
from provision.iso.menus import Templates, render_grub_esp
from provision.iso.plan import BootBase
from provision.iso.secureboot import STUB_PATH, build_signed_esp
from provision.run import run
from provision.secureboot import files as signed_files

SYSLINUX_DIRS = (
    Path("/usr/lib/ISOLINUX"),  # Debian: isolinux.bin
    Path("/usr/lib/syslinux/modules/bios"),  # Debian: *.c32
    Path("/usr/share/syslinux"),  # Gentoo, Fedora
    Path("/usr/lib/syslinux/bios"),  # Arch
)
GRUB_EFI_DIRS = (Path("/usr/lib/grub/x86_64-efi"),)
ISOLINUX_BIN = "isolinux.bin"
ISOHYBRID_MBR = "isohdpfx.bin"  # the MBR boot code that starts isolinux from a USB stick
SYSLINUX_MODULES = ("ldlinux.c32", "libutil.c32", "menu.c32")
# Built into BOOTX64.EFI (the embedded config needs the first line; the menu the rest).
GRUB_MODULES = (
    *("part_gpt", "part_msdos", "fat", "iso9660", "search", "search_fs_file", "configfile"),
    *("normal", "linux", "echo", "test", "serial", "terminal", "all_video", "gzio"),
    *("efi_gop", "efi_uga", "video_fb", "halt", "reboot"),
)
ESP_LABEL = "PROVISION"


class UefiChain(StrEnum):
    AUTO = "auto"  # signed when the signed files are installed, else grub
    SIGNED = "signed"  # shim + Debian's signed GRUB: boots with Secure Boot on
    GRUB = "grub"  # an unsigned GRUB built here (Secure Boot must be off)


@dataclass(frozen=True)
class BootloaderDirs:
    syslinux: tuple[Path, ...] = SYSLINUX_DIRS
    grub_efi: tuple[Path, ...] = GRUB_EFI_DIRS
    uefi: UefiChain = UefiChain.AUTO


def find_in(dirs: tuple[Path, ...], name: str, what: str) -> Path:
    for d in dirs:
        if (d / name).is_file():
            return d / name
    searched = ", ".join(map(str, dirs))
    raise ConfigError(name, f"{what} not found (searched {searched})")


def syslinux_files(dirs: tuple[Path, ...]) -> tuple[Path, tuple[Path, ...], Path]:
    """(isolinux.bin, the modules, isohdpfx.bin)."""
    hint = "Debian: apt install isolinux syslinux-common; Gentoo: emerge sys-boot/syslinux"
    isolinux = find_in(dirs, ISOLINUX_BIN, f"BIOS bootloader ({hint})")
    modules = tuple(find_in(dirs, m, f"syslinux module ({hint})") for m in SYSLINUX_MODULES)
    mbr = find_in(dirs, ISOHYBRID_MBR, f"isohybrid MBR ({hint})")
    return isolinux, modules, mbr


def grub_efi_dir(dirs: tuple[Path, ...]) -> Path:
    hint = "GRUB for x86_64-efi (Debian: apt install grub-efi-amd64-bin)"
    return find_in(dirs, "linux.mod", hint).parent


def esp_key(grub_dir: Path, templates: Templates) -> str:
    """Identifies an ESP build: the GRUB installation, its modules and the embedded config."""
    h = digest.sha256()
    h.update(str(grub_dir.resolve()).encode())
    for name in ("kernel.img", "linux.mod", "normal.mod"):
        st = (grub_dir / name).stat() if (grub_dir / name).exists() else None
        h.update(f"{name}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}".encode())
    h.update(" ".join(GRUB_MODULES).encode())
    h.update(templates["grub-esp.cfg"].encode())
    return h.hexdigest()[:16]


def mark_for(key: str) -> str:
    return f"boot/grub/provision-{key[:12]}.mark"


def grub_mkstandalone_argv(grub_dir: Path, out: Path, cfg: Path) -> list[str]:
    mods = " ".join(GRUB_MODULES)
    return [
        "grub-mkstandalone",
        "-O",
        "x86_64-efi",
        "-d",
        str(grub_dir),
        "-o",
        str(out),
        f"--modules={mods}",
        f"--install-modules={mods}",
        "--locales=",
        "--fonts=",
        "--themes=",
        f"boot/grub/grub.cfg={cfg}",
    ]


def esp_size_kib(efi_bytes: int) -> int:
    """FAT image size: the EFI binary, FAT overhead and slack, rounded up to 1 MiB."""
    need = efi_bytes // 1024 + 512
    return max(2048, -(-need // 1024) * 1024)


def build_esp(cache_dir: Path, grub_dir: Path, templates: Templates) -> tuple[Path, str]:
    """The cached ESP image for this GRUB (built on first use); returns (image, mark)."""
    key = esp_key(grub_dir, templates)
    mark = mark_for(key)
    image = cache_dir / f"esp-{key}.img"
    if image.is_file():
        return image, mark
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = {"MTOOLS_SKIP_CHECK": "1"}
    with tempfile.TemporaryDirectory(prefix="esp-", dir=cache_dir) as tmp_name:
        tmp = Path(tmp_name)
        cfg, efi, img = tmp / "grub.cfg", tmp / "BOOTX64.EFI", tmp / "esp.img"
        cfg.write_text(render_grub_esp(templates, "/" + mark))
        run(grub_mkstandalone_argv(grub_dir, efi, cfg))
        size = esp_size_kib(efi.stat().st_size)
        run(["mkfs.vfat", "-C", "-n", ESP_LABEL, str(img), str(size)])
        run(["mmd", "-i", str(img), "::/EFI", "::/EFI/BOOT"], extra_env=env)
        run(["mcopy", "-i", str(img), str(efi), "::/EFI/BOOT/BOOTX64.EFI"], extra_env=env)
        with atomic_output(image) as out:
            os.replace(img, out)
    return image, mark


def prepare_base(
    *,
    live_dir: Path,
    cache_dir: Path,
    templates: Templates,
    dirs: BootloaderDirs | None = None,
) -> BootBase:
    """Find or build everything a medium shares with the others; ConfigError names what is
    missing."""
    dirs = dirs or BootloaderDirs()
    kernel, initrd = live_dir / "vmlinuz", live_dir / "initrd.img"
    for path in (kernel, initrd):
        if not path.is_file():
            raise ConfigError(
                str(path), "live environment missing (the kernel and initrd PXE boots, too)"
            )
    isolinux, modules, mbr = syslinux_files(dirs.syslinux)
    grub_dir = grub_efi_dir(dirs.grub_efi)
    for tool in ("grub-mkstandalone", "mkfs.vfat", "mmd", "mcopy"):
        if shutil.which(tool) is None and not Path("/sbin", tool).exists():
            raise ConfigError(tool, "not installed (Debian: grub-common, dosfstools, mtools)")
    chain = _live_chain(dirs.uefi)
    if chain is None:
        esp, mark = build_esp(cache_dir, grub_dir, templates)
        return BootBase(isolinux, modules, esp, mark, kernel, initrd, hybrid_mbr=mbr)
    signed_files.require_signed(kernel, "the live kernel")
    esp, mark, stub = build_signed_esp(cache_dir, chain, templates, mark_for)
    return BootBase(
        isolinux,
        modules,
        esp,
        mark,
        kernel,
        initrd,
        tree_files=((STUB_PATH, stub.encode()),),
        hybrid_mbr=mbr,
    )


def _live_chain(choice: UefiChain) -> signed_files.LiveChain | None:
    """The signed files for UefiChain.SIGNED (ConfigError naming the package when missing),
    for AUTO when they are all installed; None: the unsigned GRUB."""
    if choice is UefiChain.GRUB:
        return None
    try:
        return signed_files.live_chain()
    except ConfigError:
        if choice is UefiChain.SIGNED:
            raise
        return None
