"""`provision doctor`'s knowledge: what each feature needs on the server, and where it comes from.

A pure table (NEEDS) of programs, files and Python modules, each with the feature that needs
it and the Gentoo and Debian packages that provide it; `evaluate` applies a probe (the thin
prober lives in provision/commands/doctor.py); `check_data_dir` judges the data dir from plain
facts.  Nothing here touches the system.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from provision.demo.vm import OVMF_CODE
from provision.iso.base import GRUB_EFI_DIRS, SYSLINUX_DIRS
from provision.pxe.bootloaders import DEFAULT_SEARCH
from provision.secureboot import files as sb_files


class Feature(StrEnum):
    CORE = "core"  # every command: signing, images, the server
    BUILD = "build"  # building binhosts (prefix and stage roots)
    LIVE = "live"  # the live environment the installer runs in
    ISO = "iso"  # install media
    PXE = "pxe"  # network boot: DHCP, TFTP files
    DNS = "dns"  # registering hosts in DNS (a TSIG key for the zone)
    ETCMERGE = "etc-merge"  # three-way merges of ._cfg files
    DISTCC = "distcc"  # spreading compiles over a distcc cluster
    DEMO_VM = "demo-vm"  # `provision demo --vm`: the demo machine
    SECURE_BOOT = "secure-boot"  # Secure Boot media, PXE and installs (docs/iso.md)
    POWER = "power"  # power control of hosts (Redfish, IPMI), BMC passwords at rest


# what `--for` accepts beyond single features
GROUPS: dict[str, tuple[Feature, ...]] = {
    "server": (Feature.CORE, Feature.BUILD),
    "demo": (Feature.CORE, Feature.BUILD, Feature.LIVE, Feature.ISO, Feature.PXE),
    "demo-vm": (Feature.CORE, Feature.DEMO_VM),
    "all": tuple(Feature),
}


class Kind(StrEnum):
    PROGRAM = "program"  # any of `names` on PATH (or beside this Python: a venv's emerge)
    FILE = "file"  # any of `names` exists (a name may end in a * glob)
    MODULE = "module"  # a Python module this interpreter can import


@dataclass(frozen=True)
class Need:
    what: str
    kind: Kind
    names: tuple[str, ...]
    feature: Feature
    gentoo: str
    debian: str
    why: str
    optional: bool = False  # reported, never a failure

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError(f"{self.what}: nothing to look for")


def _in(dirs: Iterable[object], name: str) -> tuple[str, ...]:
    return tuple(f"{d}/{name}" for d in dirs)


P, F, M = Kind.PROGRAM, Kind.FILE, Kind.MODULE
NEEDS: tuple[Need, ...] = (
    Need("Portage (Python)", M, ("portage",), Feature.CORE, "sys-apps/portage",
         "pip: portage (a dependency of provision)", "binhost index, GPKG, builds"),
    Need("gpg", P, ("gpg",), Feature.CORE, "app-crypt/gnupg", "gnupg",
         "signs packages, images and stages"),
    Need("tar", P, ("tar",), Feature.CORE, "app-arch/tar", "tar", "images, stages"),
    Need("zstd", P, ("zstd",), Feature.CORE, "app-arch/zstd", "zstd", "system images"),
    Need("xz", P, ("xz",), Feature.CORE, "app-arch/xz-utils", "xz-utils", "stage3 tarballs"),
    Need("emerge", P, ("emerge",), Feature.BUILD, "sys-apps/portage",
         "pip: portage (its scripts)", "runs every build"),
    Need("bwrap", P, ("bwrap",), Feature.BUILD, "sys-apps/bubblewrap", "bubblewrap",
         'enters stage roots (root = "stage")'),
    Need("gcc", P, ("gcc",), Feature.BUILD, "sys-devel/gcc", "gcc",
         "compiles in prefix roots (stage roots bring their own)"),
    Need("scanelf", P, ("scanelf",), Feature.BUILD, "app-misc/pax-utils", "pax-utils",
         "Portage's ELF checks"),
    Need("distcc", P, ("distcc",), Feature.DISTCC, "sys-devel/distcc", "distcc",
         "distcc_hosts in build.toml", optional=True),
    Need("debootstrap", P, ("debootstrap",), Feature.LIVE, "dev-util/debootstrap",
         "debootstrap", "the Debian live base and the demo's stand-in stage"),
    Need("a kernel in /boot", F, ("/boot/vmlinuz-*", "/boot/kernel-*"), Feature.LIVE,
         "sys-kernel/gentoo-kernel-bin", "linux-image-amd64", "the live environment's kernel"),
    Need("an initrd in /boot", F, ("/boot/initrd.img-*", "/boot/initramfs-*"), Feature.LIVE,
         "sys-kernel/gentoo-kernel-bin", "linux-image-amd64", "the demo kernel package"),
    Need("depmod", P, ("depmod",), Feature.LIVE, "sys-apps/kmod", "kmod",
         "the live environment's modules"),
    Need("busybox", P, ("busybox",), Feature.LIVE, "sys-apps/busybox[static]",
         "busybox-static", "the marker boot kit"),
    Need("isolinux.bin", F, _in(SYSLINUX_DIRS, "isolinux.bin"), Feature.ISO,
         "sys-boot/syslinux", "isolinux", "BIOS boot of ISOs"),
    Need("syslinux modules", F, _in(SYSLINUX_DIRS, "ldlinux.c32"), Feature.ISO,
         "sys-boot/syslinux", "syslinux-common", "the ISO's boot menu"),
    Need("GRUB for UEFI", F, _in(GRUB_EFI_DIRS, "linux.mod"), Feature.ISO,
         "sys-boot/grub[grub_platforms_efi-64]", "grub-efi-amd64-bin", "UEFI boot of ISOs"),
    Need("grub-mkstandalone", P, ("grub-mkstandalone",), Feature.ISO, "sys-boot/grub",
         "grub-common", "the ISO's EFI loader"),
    Need("mkfs.vfat", P, ("mkfs.vfat",), Feature.ISO, "sys-fs/dosfstools", "dosfstools",
         "the ISO's EFI system partition"),
    Need("mcopy", P, ("mcopy",), Feature.ISO, "sys-fs/mtools", "mtools",
         "fills the EFI partition without mounting"),
    Need("undionly.kpxe", F, _in(DEFAULT_SEARCH, "undionly.kpxe"), Feature.PXE,
         "sys-firmware/ipxe", "ipxe", "BIOS network boot"),
    Need("ipxe.efi", F, _in(DEFAULT_SEARCH, "ipxe.efi"), Feature.PXE,
         "sys-firmware/ipxe[efi]", "ipxe", "UEFI network boot"),
    Need("dnsmasq", P, ("dnsmasq",), Feature.PXE, "net-dns/dnsmasq", "dnsmasq",
         "DHCP / proxyDHCP (provision dhcp, serve --dnsmasq)"),
    Need("pxelinux.0", F, _in(DEFAULT_SEARCH, "pxelinux.0"), Feature.PXE, "sys-boot/syslinux",
         "pxelinux", "BIOS network boot by pxelinux (--bios-loader pxelinux.0)", optional=True),
    Need("ipxe.lkrn", F, _in(DEFAULT_SEARCH, "ipxe.lkrn"), Feature.PXE,
         "sys-firmware/ipxe[lkrn]", "ipxe", "pxelinux's hand-over to iPXE", optional=True),
    Need("shim", F, sb_files.SHIM.candidates, Feature.SECURE_BOOT, "sys-boot/shim",
         "shim-signed", "the Microsoft-signed first stage (media, PXE, installs)"),
    Need("MokManager", F, sb_files.MOKMANAGER.candidates, Feature.SECURE_BOOT,
         "sys-boot/shim", "shim-signed", "enrolling the server's key at the console"),
    Need("signed GRUB", F, sb_files.GRUB_DISK.candidates, Feature.SECURE_BOOT,
         "(none: Debian's)", "grub-efi-amd64-signed", "Secure Boot live media"),
    Need("signed network GRUB", F, sb_files.GRUB_NET.candidates, Feature.SECURE_BOOT,
         "(none: Debian's)", "grub-efi-amd64-signed", "Secure Boot over PXE (TFTP)"),
    Need("sbsign", P, ("sbsign",), Feature.SECURE_BOOT, "app-crypt/sbsigntools", "sbsigntool",
         "signs the installed systems' GRUB (and kernels in build roots)"),
    Need("openssl", P, ("openssl",), Feature.SECURE_BOOT, "dev-libs/openssl", "openssl",
         "makes the Secure Boot key and certificate"),
    Need("grub-mkimage", P, ("grub-mkimage",), Feature.SECURE_BOOT, "sys-boot/grub",
         "grub-common", "builds the installed systems' GRUB (x86_64-efi modules)"),
    Need("tsig-keygen", P, ("tsig-keygen",), Feature.DNS, "net-dns/bind", "bind9",
         "makes the TSIG key of the dynamic zone", optional=True),
    Need("diff3", P, ("diff3",), Feature.ETCMERGE, "sys-apps/diffutils", "diffutils",
         "three-way merges of ._cfg files"),
    Need("qemu-system-x86_64", P, ("qemu-system-x86_64",), Feature.DEMO_VM,
         "app-emulation/qemu", "qemu-system-x86", "the demo machine"),
    Need("QEMU's iPXE ROM", F, ("/usr/lib/ipxe/qemu/efi-virtio.rom",
                                "/usr/share/qemu/efi-virtio.rom"), Feature.DEMO_VM,
         "sys-firmware/ipxe[qemu]", "ipxe-qemu", "the demo machine's network boot"),
    Need("OVMF", F, tuple(map(str, OVMF_CODE)), Feature.DEMO_VM, "sys-firmware/edk2-ovmf-bin",
         "ovmf", "the demo machine with --firmware uefi", optional=True),
    Need("sushy", M, ("sushy",), Feature.POWER, "pip: provision[power]", "pip: provision[power]",
         "Redfish power control (docs/fleet.md)"),
    Need("pyghmi", M, ("pyghmi",), Feature.POWER, "pip: provision[power]",
         "pip: provision[power]", "IPMI power control"),
    Need("cryptography", M, ("cryptography",), Feature.POWER, "dev-python/cryptography",
         "python3-cryptography", "BMC passwords encrypted with the server's secret key"),
)  # fmt: skip


def features_for(names: Iterable[str]) -> set[Feature]:
    """--for values (features or groups) -> features; ValueError names the bad one."""
    out: set[Feature] = set()
    for name in names:
        if name in GROUPS:
            out.update(GROUPS[name])
        elif name in {f.value for f in Feature}:
            out.add(Feature(name))
        else:
            choices = ", ".join([*GROUPS, *(f.value for f in Feature if f.value not in GROUPS)])
            raise ValueError(f"{name!r} is not a feature ({choices})")
    return out


@dataclass(frozen=True)
class Finding:
    need: Need
    found: str  # where it was found; "" when missing

    @property
    def ok(self) -> bool:
        return bool(self.found)


def evaluate(needs: Iterable[Need], probe: Callable[[Need], str]) -> list[Finding]:
    return [Finding(n, probe(n)) for n in needs]


def failures(findings: Iterable[Finding], required: set[Feature]) -> list[Finding]:
    """The missing parts that make the doctor fail: required features, never optional ones."""
    return [f for f in findings if not f.ok and f.need.feature in required and not f.need.optional]


def render(findings: list[Finding], required: set[Feature]) -> list[str]:
    """Pure: one line per need, grouped by feature; what is missing says which packages."""
    lines = []
    for feature in Feature:
        group = [f for f in findings if f.need.feature is feature]
        if not group:
            continue
        label = "required" if feature in required else "optional here"
        lines.append(f"{feature.value} ({label}):")
        for f in group:
            if f.ok:
                lines.append(f"  ok       {f.need.what:<22} {f.found}")
            else:
                mark = "missing" if f.need.optional or feature not in required else "MISSING"
                lines.append(
                    f"  {mark:<8} {f.need.what:<22} Gentoo: {f.need.gentoo}  Debian: "
                    f"{f.need.debian}  ({f.need.why})"
                )
    return lines


@dataclass(frozen=True)
class DirFacts:
    """What the prober saw of the data dir (None: does not exist)."""

    path: str
    mode: int | None  # st_mode of the data dir
    writable: bool  # by this user (the data dir, or its parent when it does not exist yet)
    sign_mode: int | None = None  # keys/sign (the secret key's GnuPG home)
    config_mode: int | None = None  # server.toml (holds the secret key)


def check_data_dir(facts: DirFacts) -> list[str]:
    """Pure: the data dir's problems, one line each ([] when fine)."""
    problems = []
    if facts.mode is None:
        if not facts.writable:
            problems.append(f"{facts.path} does not exist and cannot be created by this user")
        return problems
    if not stat.S_ISDIR(facts.mode):
        return [f"{facts.path} is not a directory"]
    if not facts.writable:
        problems.append(f"{facts.path} is not writable by this user (the server writes there)")
    if facts.mode & stat.S_IWOTH:
        problems.append(f"{facts.path} is world-writable (chmod o-w)")
    if facts.sign_mode is not None and facts.sign_mode & 0o077:
        problems.append(
            f"{facts.path}/keys/sign (the secret signing key) is readable by others "
            f"({stat.S_IMODE(facts.sign_mode):o}; chmod 700)"
        )
    if facts.config_mode is not None and facts.config_mode & 0o077:
        problems.append(
            f"{facts.path}/server.toml (the secret key, the admin password hash) is readable by "
            f"others ({stat.S_IMODE(facts.config_mode):o}; chmod 600)"
        )
    return problems
