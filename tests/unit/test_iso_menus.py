"""Boot menus rendered from iso_templates/ (pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.iso.menus import (
    TEMPLATES_DIR,
    Templates,
    _grub_quote,
    load_templates,
    menu_entries,
    render_grub,
    render_grub_esp,
    render_isolinux,
    templates_dir,
)
from tests.unit.iso_samples import STAMP

TEMPLATES = load_templates()
ARGS = (
    "console=tty0 console=ttyS0,115200 provision.server=http://192.0.2.1:8080 "
    "provision.profile=desktop-amd64 provision.host=52:54:00:12:34:56 provision.hostname=ws1 "
    "provision.token=tok-EN_123 provision.config=/provision/config.toml"
)


def test_isolinux_menu() -> None:
    text = render_isolinux(STAMP, TEMPLATES, timeout_s=3)
    assert text.startswith("SERIAL 0 115200\n")  # must be the first directive
    assert "TIMEOUT 30\n" in text
    assert "DEFAULT install\n" in text
    assert "LABEL install\n" in text
    assert f"  KERNEL /boot/vmlinuz\n  APPEND initrd=/boot/initrd.img {ARGS}\n" in text
    assert "MENU LABEL Install desktop-amd64 on ws1 from http://192.0.2.1:8080\n" in text
    assert "LABEL local\n  MENU LABEL Boot from the first hard disk\n  LOCALBOOT 0x80\n" in text
    assert "${" not in text


def test_grub_menu() -> None:
    text = render_grub(STAMP, TEMPLATES, timeout_s=0)
    assert "set timeout=0\n" in text
    assert "set default=install\n" in text
    assert f"  linux /boot/vmlinuz {ARGS}\n  initrd /boot/initrd.img\n" in text
    assert "menuentry 'Boot from the first hard disk' --id local {\n  exit\n}" in text


def test_offline_medium_defaults_to_offline_install() -> None:
    stamp = replace(STAMP, offline=True, snapshot="s1")
    labels = [e.label for e in menu_entries(stamp)]
    assert labels == ["offline", "install", "local"]
    assert menu_entries(stamp)[0].cmdline == f"{ARGS} provision.offline=1"
    assert "DEFAULT offline\n" in render_isolinux(stamp, TEMPLATES, 5)
    assert "set default=offline\n" in render_grub(stamp, TEMPLATES, 5)


def test_isolinux_timeout_is_never_zero() -> None:
    # 0 would make isolinux wait forever at the menu.
    assert "TIMEOUT 1\n" in render_isolinux(STAMP, TEMPLATES, timeout_s=0)


def test_grub_quote() -> None:
    assert _grub_quote("it's") == "it'\\''s"


def test_esp_config_searches_the_mark() -> None:
    text = render_grub_esp(TEMPLATES, "/boot/grub/provision-abc.mark")
    assert "search --no-floppy --set=root --file /boot/grub/provision-abc.mark\n" in text
    assert "configfile ($root)/boot/grub/grub.cfg\n" in text


def test_missing_template_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"isolinux\.cfg\.tmpl: cannot read template"):
        load_templates(tmp_path)


def test_unknown_placeholder_in_template() -> None:
    tmpl = Templates({**TEMPLATES.text, "grub.cfg": "${surprise}\n"})
    with pytest.raises(ConfigError, match=r"grub\.cfg template: bad placeholder"):
        render_grub(STAMP, tmpl, 1)


def test_templates_dir_installed_or_checkout(tmp_path: Path) -> None:
    """A wheel carries the templates inside the package; a checkout has them beside it."""
    package = tmp_path / "site" / "provision"
    package.mkdir(parents=True)
    assert templates_dir(package) == tmp_path / "site" / "iso_templates"
    (package / "iso_templates").mkdir()
    assert templates_dir(package) == package / "iso_templates"
    assert (TEMPLATES_DIR / "grub.cfg.tmpl").is_file()
