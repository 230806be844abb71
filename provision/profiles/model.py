"""Typed profile model.  Built only by provision.profiles.load, which validates the TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"
    AUTO = "auto"


class PartitionTable(StrEnum):
    GPT = "gpt"
    MBR = "mbr"

    @property
    def sfdisk_label(self) -> str:
        """The name sfdisk (and blkid, and sfdisk --json) use for this table."""
        return "dos" if self is PartitionTable.MBR else "gpt"

    @classmethod
    def from_sfdisk(cls, label: str) -> PartitionTable | None:
        """sfdisk's label ("gpt", "dos") as a table; None for none or another kind."""
        return {"gpt": cls.GPT, "dos": cls.MBR}.get(label)


class Filesystem(StrEnum):
    EXT4 = "ext4"
    XFS = "xfs"
    BTRFS = "btrfs"
    VFAT = "vfat"
    SWAP = "swap"


class MergeAction(StrEnum):
    TAKE_NEW = "take-new"
    KEEP = "keep"
    MERGE = "merge"
    ASK = "ask"


@dataclass(frozen=True)
class Repository:
    name: str
    location: str  # absolute path (resolved relative to the profile file at load)
    sync_uri: str = ""


@dataclass(frozen=True)
class BootstrapStep:
    atom: str
    use: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kernel:
    package: str = ""
    config: tuple[str, ...] = ()  # CONFIG_FOO=y fragments
    min_version: str = ""  # minimum target kernel, for the ELF ABI check (x.y.z)


@dataclass(frozen=True)
class Partition:
    mountpoint: str  # "/" , "/home", or "" for none
    size: int | None  # bytes; None = rest of the disk
    filesystem: Filesystem | None  # None: no filesystem (the BIOS boot partition)
    label: str = ""

    def __post_init__(self) -> None:
        if self.filesystem is not None and not isinstance(self.filesystem, Filesystem):
            raise TypeError(f"Partition.filesystem: {self.filesystem!r} is not a Filesystem")
        if self.size is not None and self.size <= 0:
            raise ValueError(f"Partition.size: {self.size} is not a positive size")


@dataclass(frozen=True)
class DiskLayout:
    firmware: Firmware = Firmware.AUTO
    table: PartitionTable = PartitionTable.GPT
    select: str = "first"  # first | largest | serial:X | path:/dev/X
    min_size: int = 0
    swap: int = 0  # bytes, 0 = no swap partition
    partitions: tuple[Partition, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.table, PartitionTable):
            raise TypeError(f"DiskLayout.table: {self.table!r} is not a PartitionTable")
        if not isinstance(self.firmware, Firmware):
            raise TypeError(f"DiskLayout.firmware: {self.firmware!r} is not a Firmware")


@dataclass(frozen=True)
class MergeRule:
    path: str  # glob on the absolute path in the target, e.g. /etc/ssh/*
    action: MergeAction


@dataclass(frozen=True)
class MergePolicy:
    default: MergeAction = MergeAction.MERGE
    ignore_whitespace_comments: bool = True
    frozen: tuple[str, ...] = ()
    rules: tuple[MergeRule, ...] = ()


@dataclass(frozen=True)
class PortageSettings:
    profile: str = ""  # e.g. default/linux/amd64/23.0 (inside the main repository)
    chost: str = "x86_64-pc-linux-gnu"
    cflags: str = "-O2 -pipe"
    cxxflags: str = "${CFLAGS}"
    makeopts: str = "-j2"
    cpu_flags_x86: tuple[str, ...] = ()
    use: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    package_use: dict[str, tuple[str, ...]] = field(default_factory=dict)
    accept_keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    binary_only: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # further make.conf variables


@dataclass(frozen=True)
class Profile:
    name: str
    source: str  # the file it was loaded from
    description: str = ""
    inherits: str = ""
    portage: PortageSettings = field(default_factory=PortageSettings)
    repositories: tuple[Repository, ...] = ()
    packages: tuple[str, ...] = ()
    kernel: Kernel = field(default_factory=Kernel)
    bootstrap: tuple[BootstrapStep, ...] = ()
    disk: DiskLayout = field(default_factory=DiskLayout)
    etc_merge: MergePolicy = field(default_factory=MergePolicy)
    # Signed boot chain on the installed system: shim → GRUB and kernel signed with the
    # server's Secure Boot key (kernel packages via SECUREBOOT_SIGN_KEY and USE=secureboot).
    secure_boot: bool = False

    @property
    def main_repository(self) -> Repository:
        return self.repositories[0]
