"""Boot menus (isolinux for BIOS, GRUB for UEFI) rendered from iso_templates/ (pure).

`load_templates()` is the only function here that reads files; everything else maps a stamp and
the templates' text to the text written on the medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from provision.errors import ConfigError
from provision.iso.stamp import Stamp, kernel_args

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def templates_dir(package: Path = PACKAGE_DIR) -> Path:
    """The templates: provision/iso_templates in an installed wheel (setup.py maps the
    top-level iso_templates/ there), else iso_templates/ beside the package (a checkout)."""
    installed = package / "iso_templates"
    return installed if installed.is_dir() else package.parent / "iso_templates"


TEMPLATES_DIR = templates_dir()
TEMPLATE_NAMES = (
    "isolinux.cfg",
    "isolinux-entry",
    "isolinux-local",
    "grub.cfg",
    "grub-entry",
    "grub-local",
    "grub-esp.cfg",
    "config.toml",
)
KERNEL = "/boot/vmlinuz"
INITRD = "/boot/initrd.img"
# Console on the screen and on the first serial port (the last console= gets /dev/console).
BASE_ARGS = ("console=tty0", "console=ttyS0,115200")


@dataclass(frozen=True)
class Templates:
    text: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.text[name]


@dataclass(frozen=True)
class MenuEntry:
    label: str
    title: str
    cmdline: str | None  # None: boot from the local disk


def load_templates(directory: Path = TEMPLATES_DIR) -> Templates:
    text = {}
    for name in TEMPLATE_NAMES:
        path = directory / f"{name}.tmpl"
        try:
            text[name] = path.read_text()
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read template: {exc.strerror}") from exc
    return Templates(text)


def menu_entries(stamp: Stamp) -> list[MenuEntry]:
    """Install (offline first when the medium carries a snapshot), then local disk."""
    who = f" on {stamp.hostname or stamp.mac}" if stamp.host else ""
    args = " ".join([*BASE_ARGS, *kernel_args(stamp)])
    entries = []
    if stamp.offline:
        entries.append(
            MenuEntry(
                "offline",
                f"Install {stamp.profile}{who} from this medium (offline)",
                f"{args} provision.offline=1",
            )
        )
    entries.append(MenuEntry("install", f"Install {stamp.profile}{who} from {stamp.server}", args))
    entries.append(MenuEntry("local", "Boot from the first hard disk", None))
    return entries


def _sub(template: str, name: str, values: dict[str, str]) -> str:
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{name} template", f"bad placeholder: {exc}") from exc


def _grub_quote(text: str) -> str:
    return text.replace("'", "'\\''")


def render_isolinux(stamp: Stamp, templates: Templates, timeout_s: int) -> str:
    entries = menu_entries(stamp)
    parts = []
    for e in entries:
        if e.cmdline is None:
            parts.append(_sub(templates["isolinux-local"], "isolinux-local", vars_of(e)))
        else:
            parts.append(_sub(templates["isolinux-entry"], "isolinux-entry", vars_of(e)))
    return _sub(
        templates["isolinux.cfg"],
        "isolinux.cfg",
        {
            # isolinux: 0 waits forever; the shortest real timeout is one tenth of a second.
            "timeout_ds": str(max(1, timeout_s * 10)),
            "title": f"provision: {stamp.profile}",
            "default": entries[0].label,
            "entries": "".join(parts),
        },
    )


def render_grub(stamp: Stamp, templates: Templates, timeout_s: int) -> str:
    entries = menu_entries(stamp)
    parts = []
    for e in entries:
        values = vars_of(e)
        values["title"] = _grub_quote(values["title"])
        name = "grub-local" if e.cmdline is None else "grub-entry"
        parts.append(_sub(templates[name], name, values))
    return _sub(
        templates["grub.cfg"],
        "grub.cfg",
        {
            "timeout_s": str(max(0, timeout_s)),
            "title": f"provision: {stamp.profile}",
            "default": entries[0].label,
            "entries": "".join(parts),
        },
    )


def render_grub_esp(templates: Templates, mark: str) -> str:
    """The config embedded in the ESP's GRUB: locate the medium by its mark file."""
    return _sub(templates["grub-esp.cfg"], "grub-esp.cfg", {"mark": mark})


def vars_of(entry: MenuEntry) -> dict[str, str]:
    return {
        "label": entry.label,
        "title": entry.title,
        "kernel": KERNEL,
        "initrd": INITRD,
        "cmdline": entry.cmdline or "",
    }
