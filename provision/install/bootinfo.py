"""How this machine booted: the firmware's own record (UEFI variables), else the boot menu's.

UEFI: BootCurrent names the boot option the firmware started (Boot####); that option's device
path says how: a URI node is HTTP boot, an IPv4/IPv6 node without one is PXE, a USB node a USB
stick, a CD-ROM (El Torito) node a CD/DVD (OVMF and much firmware boot a USB stick holding a
hybrid ISO through its El Torito image too, so USB is checked first).  SecureBoot-<EFI global
GUID> is 1 when Secure Boot is on.  Everything is read from efivarfs (4 attribute bytes, then
the value).  BIOS: the boot menu says (`provision.boot=` on the kernel command line: the iPXE
script, the ISO's menus); a CD drive with a medium tells an ISO from a USB stick.

The parsing is pure and bounds-checked (`parse_load_option`, `device_path_nodes`, `classify`);
`detect()` is the thin reader.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from provision.hosts import BootInfo, BootPath

EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFIVARS = Path("/sys/firmware/efi/efivars")
# Device path node types (UEFI spec, "Device Path Protocol").
HARDWARE, ACPI, MESSAGING, MEDIA, BBS, END = 1, 2, 3, 4, 5, 0x7F
MSG_USB, MSG_MAC, MSG_IPV4, MSG_IPV6, MSG_URI = 5, 11, 12, 13, 24
MEDIA_HARDDRIVE, MEDIA_CDROM, MEDIA_FILEPATH, MEDIA_RAMDISK = 1, 2, 4, 9


@dataclass(frozen=True)
class Node:
    type: int
    subtype: int
    data: bytes


@dataclass(frozen=True)
class LoadOption:
    attributes: int
    description: str
    device_path: bytes


def parse_load_option(value: bytes) -> LoadOption:
    """An EFI_LOAD_OPTION (the value of a Boot#### variable, without efivarfs' attributes)."""
    if len(value) < 6:
        raise ValueError("a load option has at least 6 bytes")
    attributes, path_len = struct.unpack_from("<IH", value, 0)
    end = 6
    while True:  # the description: UCS-2, NUL-terminated
        if end + 2 > len(value):
            raise ValueError("unterminated description")
        if value[end : end + 2] == b"\0\0":
            break
        end += 2
    description = value[6:end].decode("utf-16-le", "replace")
    path = value[end + 2 : end + 2 + path_len]
    if len(path) != path_len:
        raise ValueError("the device path runs past the end of the option")
    return LoadOption(attributes, description, path)


def device_path_nodes(path: bytes) -> list[Node]:
    """The nodes of the first device path instance (up to its end node)."""
    nodes: list[Node] = []
    at = 0
    while at + 4 <= len(path):
        node_type, subtype, length = struct.unpack_from("<BBH", path, at)
        if length < 4 or at + length > len(path):
            raise ValueError(f"bad device path node length {length} at {at}")
        if node_type == END:
            return nodes
        nodes.append(Node(node_type, subtype, path[at + 4 : at + length]))
        at += length
    raise ValueError("device path without an end node")


# What firmware calls its boot entries, when the device path alone does not say (a removable
# medium's entry is often the bare device: "UEFI QEMU DVD-ROM QM00011" = PciRoot/Pci/Sata).
DESCRIPTION_WORDS = (
    ("HTTP", BootPath.HTTP),
    ("PXE", BootPath.PXE),
    ("USB", BootPath.USB),
    ("DVD", BootPath.ISO),
    ("CD-ROM", BootPath.ISO),
    ("CDROM", BootPath.ISO),
    ("CD/DVD", BootPath.ISO),
)


def classify(nodes: list[Node], description: str = "") -> BootPath:
    """The boot path of a boot option: its device path's nodes, else its description."""
    kinds = {(n.type, n.subtype) for n in nodes}
    if (MESSAGING, MSG_URI) in kinds:
        return BootPath.HTTP
    if kinds & {(MESSAGING, MSG_IPV4), (MESSAGING, MSG_IPV6), (MESSAGING, MSG_MAC)}:
        return BootPath.PXE
    if (MESSAGING, MSG_USB) in kinds:
        return BootPath.USB
    if (MEDIA, MEDIA_CDROM) in kinds:
        return BootPath.ISO
    upper = description.upper()
    for word, path in DESCRIPTION_WORDS:
        if word in upper:
            return path
    if (MEDIA, MEDIA_HARDDRIVE) in kinds or (MEDIA, MEDIA_FILEPATH) in kinds:
        return BootPath.DISK
    return BootPath.UNKNOWN


def efi_value(raw: bytes) -> bytes:
    """An efivarfs file's content without its 4 attribute bytes."""
    if len(raw) < 4:
        raise ValueError("an efivarfs file has 4 attribute bytes first")
    return raw[4:]


def secure_boot_from(raw: bytes | None) -> bool | None:
    """SecureBoot-<global>'s efivarfs content → on/off; None when the variable is absent."""
    if raw is None:
        return None
    value = efi_value(raw)
    if len(value) != 1:
        raise ValueError("SecureBoot is one byte")
    return value[0] == 1


def boot_current(raw: bytes) -> str:
    """BootCurrent's efivarfs content → the option's variable name, e.g. Boot0003."""
    value = efi_value(raw)
    if len(value) != 2:
        raise ValueError("BootCurrent is two bytes")
    return f"Boot{struct.unpack('<H', value)[0]:04X}"


def from_uefi(
    boot_current_raw: bytes, option_raw: bytes, secure_boot_raw: bytes | None
) -> BootInfo:
    """The BootInfo of a UEFI boot from the three variables' efivarfs contents (pure)."""
    option = parse_load_option(efi_value(option_raw))
    path = classify(device_path_nodes(option.device_path), option.description)
    detail = "".join(c for c in option.description if c.isprintable()).strip()[:120]
    return BootInfo(path, "uefi", secure_boot_from(secure_boot_raw), detail)


def from_cmdline(hint: str, cd_with_medium: bool) -> BootInfo:
    """BIOS (no UEFI variables): the boot menu's provision.boot= hint (pure)."""
    try:
        path = BootPath(hint)
    except ValueError:
        path = BootPath.UNKNOWN
    if path in (BootPath.ISO, BootPath.USB):
        path = BootPath.ISO if cd_with_medium else BootPath.USB
    return BootInfo(path, "bios", None)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def cd_with_medium(sys_block: Path = Path("/sys/block")) -> bool:
    for dev in sys_block.glob("sr*"):
        size = (dev / "size").read_text().strip() if (dev / "size").is_file() else "0"
        if size.isdigit() and int(size) > 0:
            return True
    return False


def boot_hint(cmdline: dict[str, str]) -> str:
    """What the boot menu said: provision.boot= (iPXE, GRUB over TFTP), else an install
    medium's provision.config= (its menus), else nothing."""
    if cmdline.get("boot"):
        return cmdline["boot"]
    return BootPath.ISO.value if cmdline.get("config") else ""


def _uefi(efivars: Path) -> BootInfo:
    current = _read(efivars / f"BootCurrent-{EFI_GLOBAL}")
    secure = _read(efivars / f"SecureBoot-{EFI_GLOBAL}")
    try:
        sb = secure_boot_from(secure)
        if current is None:
            return BootInfo(BootPath.UNKNOWN, "uefi", sb, "no BootCurrent (efivarfs mounted?)")
        option = _read(efivars / f"{boot_current(current)}-{EFI_GLOBAL}")
        if option is None:
            return BootInfo(BootPath.UNKNOWN, "uefi", sb, f"no {boot_current(current)}")
        return from_uefi(current, option, secure)
    except ValueError as exc:
        return BootInfo(BootPath.UNKNOWN, "uefi", None, f"unreadable: {exc}"[:120])


def detect(hint: str, efivars: Path = EFIVARS, efi: Path = Path("/sys/firmware/efi")) -> BootInfo:
    """How the running system booted (never raises: unknown parts stay unknown)."""
    if not efi.is_dir():
        return from_cmdline(hint, cd_with_medium())
    info = _uefi(efivars)
    if info.path in (BootPath.UNKNOWN, BootPath.DISK) and hint in ("iso", "usb"):
        path = BootPath.ISO if cd_with_medium() else BootPath.USB
        return BootInfo(path, info.firmware, info.secure_boot, info.detail)
    return info
