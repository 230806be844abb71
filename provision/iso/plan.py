"""The file list of a medium: what goes where (pure, apart from `scan_tree`).

A medium is a base (bootloaders, the ESP image, kernel, initrd: the same for every medium built
from one live environment) plus a stamp (config.toml, the public key and the two boot menus,
a few KiB) plus, for an offline medium, a snapshot tree.  The writer only streams what the plan
lists; file data is never held in memory except for the small generated files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from provision.errors import ConfigError
from provision.iso.menus import INITRD, KERNEL, Templates, render_grub, render_isolinux
from provision.iso.names import MediumPath, NameTable, iso_dir_name
from provision.iso.stamp import (
    CONFIG_PATH,
    PUBLIC_KEY_PATH,
    SNAPSHOT_DIR,
    STAGE_DIR,
    Stamp,
    render_config,
)

Progress = Callable[[int, int], None]  # (bytes written, bytes in all)
ISOLINUX_DIR = "isolinux"
BIOS_BOOT = f"{ISOLINUX_DIR}/isolinux.bin"
BOOT_CATALOG = f"{ISOLINUX_DIR}/boot.cat"
EFI_IMAGE = "boot/efi.img"


@dataclass(frozen=True)
class BootBase:
    """The parts shared by every medium of one live environment and bootloader set."""

    isolinux_bin: Path
    syslinux_modules: tuple[Path, ...]  # ldlinux.c32 and the menu's modules
    esp_image: Path  # FAT image: EFI/BOOT/BOOTX64.EFI (GRUB with an embedded config)
    mark: str  # the file GRUB searches to find this medium, e.g. "boot/grub/provision-ab12.mark"
    kernel: Path
    initrd: Path
    tree_files: tuple[tuple[str, bytes], ...] = ()  # small files on the ISO tree (rel, data)
    hybrid_mbr: Path | None = None  # syslinux's isohdpfx.bin: USB-bootable; None: CD only


@dataclass(frozen=True, slots=True)
class TreeFile:
    rel: str  # path relative to the tree's root, '/'-separated
    source: Path
    size: int
    mode: int  # permission bits


@dataclass(frozen=True, slots=True)
class PlannedFile:
    where: MediumPath
    size: int
    mode: int
    source: Path | None = None  # streamed from this file ...
    data: bytes | None = None  # ... or, for the small generated files, these bytes


@dataclass(frozen=True)
class IsoPlan:
    volume_id: str
    dirs: tuple[MediumPath, ...]
    files: tuple[PlannedFile, ...]
    bios_boot: MediumPath
    boot_catalog: MediumPath
    efi_boot: MediumPath
    hybrid_mbr: Path | None = None  # the isohybrid MBR's boot code (isohdpfx.bin)

    @property
    def data_size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, posix: str) -> PlannedFile:
        for f in self.files:
            if f.where.posix == posix:
                return f
        raise KeyError(posix)


GRUB_CFG = "boot/grub/grub.cfg"
ISOLINUX_CFG = f"{ISOLINUX_DIR}/isolinux.cfg"
# the stamp files that differ between two hosts' media (the key is the server's: in the base)
STAMP_PATHS = (CONFIG_PATH, ISOLINUX_CFG, GRUB_CFG)


def stamp_files(stamp: Stamp, templates: Templates, timeout_s: int) -> dict[str, bytes]:
    """The per-medium files: everything that differs between two media of one base."""
    return {
        CONFIG_PATH: render_config(stamp, templates["config.toml"]).encode(),
        PUBLIC_KEY_PATH: stamp.public_key.encode(),
        ISOLINUX_CFG: render_isolinux(stamp, templates, timeout_s).encode(),
        GRUB_CFG: render_grub(stamp, templates, timeout_s).encode(),
    }


def plan_image(
    base: BootBase,
    stamp: Stamp,
    templates: Templates,
    *,
    timeout_s: int = 5,
    sizes: dict[Path, int],
    snapshot: Sequence[TreeFile] = (),
    stage: TreeFile | None = None,
) -> IsoPlan:
    """The complete file list.  `sizes` maps each base file to its size (from os.stat)."""
    items: list[tuple[str, Path | bytes, int]] = [
        (BIOS_BOOT, base.isolinux_bin, 0o644),
        *((f"{ISOLINUX_DIR}/{m.name}", m, 0o644) for m in base.syslinux_modules),
        (EFI_IMAGE, base.esp_image, 0o644),
        (KERNEL.lstrip("/"), base.kernel, 0o644),
        (INITRD.lstrip("/"), base.initrd, 0o644),
        (base.mark, b"provision install medium\n", 0o644),
        *((rel, data, 0o644) for rel, data in base.tree_files),
    ]
    items += [(rel, data, 0o644) for rel, data in stamp_files(stamp, templates, timeout_s).items()]
    if stage is not None:
        items.append((f"{STAGE_DIR}/{stamp.stage or stage.rel}", stage.source, stage.mode))
    items += [(f"{SNAPSHOT_DIR}/{t.rel}", t.source, t.mode) for t in snapshot]
    plan = _assign(volume_id(stamp.profile), items, sizes, snapshot, stage)
    return replace(plan, hybrid_mbr=base.hybrid_mbr)


def _assign(
    vol: str,
    items: list[tuple[str, Path | bytes, int]],
    sizes: dict[Path, int],
    snapshot: Sequence[TreeFile],
    stage: TreeFile | None,
) -> IsoPlan:
    tree_sizes = {t.source: t.size for t in snapshot}
    if stage is not None:
        tree_sizes[stage.source] = stage.size
    seen: set[str] = set()
    for rel, _, _ in items:
        if rel in seen:
            raise ConfigError(rel, "listed twice on the medium")
        seen.add(rel)
    dir_paths = sorted({"/".join(r.split("/")[:i]) for r, _, _ in items for i in _levels(r)})
    names = NameTable()
    dirs = tuple(names.add(d, is_dir=True) for d in sorted(dir_paths, key=_depth_key))
    files = []
    for rel, src, mode in sorted(items, key=lambda i: i[0]):
        where = names.add(rel, is_dir=False)
        if isinstance(src, bytes):
            files.append(PlannedFile(where, len(src), mode, data=src))
        else:
            size = tree_sizes[src] if src in tree_sizes else sizes[src]
            files.append(PlannedFile(where, size, mode, source=src))
    by_posix = {f.where.posix: f.where for f in files}
    return IsoPlan(
        volume_id=vol,
        dirs=dirs,
        files=tuple(files),
        bios_boot=by_posix[BIOS_BOOT],
        boot_catalog=names.add(BOOT_CATALOG, is_dir=False),
        efi_boot=by_posix[EFI_IMAGE],
    )


def _levels(rel: str) -> Iterable[int]:
    return range(1, rel.count("/") + 1)


def _depth_key(d: str) -> tuple[int, str]:
    return (d.count("/"), d)


def volume_id(profile: str) -> str:
    """ISO volume label: the profile in d-characters, at most 16 (Joliet's limit)."""
    return iso_dir_name(profile)[:16]


def scan_tree(root: Path) -> list[TreeFile]:
    """Every regular file under root (symlinks to files are followed), sorted by path."""
    if not root.is_dir():
        raise ConfigError(str(root), "no such directory")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError as exc:
                raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(str(path), "not a regular file (only files and directories)")
            rel = path.relative_to(root).as_posix()
            out.append(TreeFile(rel, path, st.st_size, stat.S_IMODE(st.st_mode)))
    return out
