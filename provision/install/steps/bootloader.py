"""GRUB: grub-install for BIOS (i386-pc, into the disk) or UEFI (x86_64-efi, --removable into
the ESP), then grub.cfg rendered from the kernels in /boot.

A secure_boot profile gets the signed chain instead of grub-install (provision.install
.secureboot): shim as EFI/BOOT/BOOTX64.EFI, the server-signed GRUB beside it, MokManager, the
certificate to enrol, and EFI/BOOT/grub.cfg that finds /boot by UUID and reads its grub.cfg."""

from __future__ import annotations

import shlex

from provision.fsutil import write_atomic
from provision.install import secureboot
from provision.install.context import InstallContext
from provision.install.render import BootEntry, boot_path, kernel_version, render_grub_cfg
from provision.install.steps.kernel import kernel_images
from provision.profiles.model import Firmware

NAME = "bootloader"
CMDLINE = "console=tty0 console=ttyS0,115200"


def grub_install_argv(ctx: InstallContext) -> list[str]:
    boot_dir = str(ctx.path("/boot"))
    if ctx.plan.firmware is Firmware.UEFI:
        esp = ctx.plan.esp
        assert esp is not None
        return [
            "grub-install",
            "--target=x86_64-efi",
            f"--efi-directory={ctx.path(esp.mountpoint)}",
            f"--boot-directory={boot_dir}",
            "--removable",
            "--no-nvram",
            "--no-floppy",
        ]
    return [
        "grub-install",
        "--target=i386-pc",
        f"--boot-directory={boot_dir}",
        "--no-floppy",
        ctx.plan.devnode,
    ]


def boot_entries(ctx: InstallContext) -> list[BootEntry]:
    boot = ctx.path("/boot")
    entries = []
    for image in kernel_images(boot):
        version = kernel_version(image.name)
        initrd = ""
        for name in (f"initramfs-{version}.img", f"initrd.img-{version}", f"initrd-{version}"):
            if (boot / name).is_file():
                initrd = boot_path(ctx.plan, f"/boot/{name}")
                break
        title = f"Gentoo ({ctx.config.profile.name}) {version}"
        entries.append(BootEntry(title, boot_path(ctx.plan, f"/boot/{image.name}"), initrd))
    return entries


def describe(ctx: InstallContext) -> list[str]:
    if ctx.config.profile.secure_boot:
        return [*secureboot.describe(ctx), f"write {ctx.path('/boot/grub/grub.cfg')}"]
    return [shlex.join(grub_install_argv(ctx)), f"write {ctx.path('/boot/grub/grub.cfg')}"]


def apply(ctx: InstallContext) -> None:
    if ctx.config.profile.secure_boot:
        secureboot.apply(ctx)
    else:
        ctx.sh(grub_install_argv(ctx))
    text = render_grub_cfg(ctx.plan, ctx.read_uuids(), boot_entries(ctx), cmdline=CMDLINE)
    write_atomic(ctx.path("/boot/grub/grub.cfg"), text)
