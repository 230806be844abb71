"""The Secure Boot ESP of install media: shim → Debian's signed GRUB → the live kernel.

ESP image (boot/efi.img, El Torito EFI entry and the hybrid MBR's partition 2):
    EFI/BOOT/BOOTX64.EFI   shim, signed by Microsoft (the firmware starts it)
    EFI/BOOT/grubx64.efi   Debian's signed GRUB (shim loads grubx64.efi from its directory)
    EFI/BOOT/mmx64.efi     MokManager (shim starts it to enrol keys)
    EFI/debian/grub.cfg    find the medium by its mark file, read /boot/grub/grub.cfg

Debian's signed GRUB cannot have a config built in (that would change the signed image): it
reads $prefix/grub.cfg, its prefix being /EFI/debian on the device it was started from.  Under
OVMF and much real firmware that device is the whole CD ((cd0), also for a USB stick, whose
El Torito image the firmware prefers), so the same small grub.cfg is also on the ISO 9660 tree
as /EFI/debian/grub.cfg; booted from the hybrid ESP partition GRUB reads the ESP's copy.  The
kernel must be signed too (Debian's linux-image-amd64 is, by Debian, whose CA Debian's shim
carries).  The chain boots on firmware without Secure Boot as well.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from provision import digest
from provision.fsutil import atomic_output
from provision.iso.menus import Templates, render_grub_esp
from provision.run import run
from provision.secureboot.files import LiveChain

ESP_LABEL = "PROVISION"
STUB_PATH = "EFI/debian/grub.cfg"  # Debian's signed GRUB: $prefix = /EFI/debian


def stub_config(templates: Templates, mark: str) -> str:
    """The grub.cfg Debian's signed GRUB reads first (pure)."""
    return render_grub_esp(templates, "/" + mark.lstrip("/"))


def signed_esp_key(chain: LiveChain, templates: Templates) -> str:
    h = digest.sha256(b"signed-esp-1")
    for path in (chain.shim, chain.grub, chain.mokmanager):
        st = path.stat()
        h.update(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(templates["grub-esp.cfg"].encode())
    return h.hexdigest()[:16]


def esp_size_kib(payload: int) -> int:
    need = payload // 1024 + 512
    return max(4096, -(-need // 1024) * 1024)


def build_signed_esp(
    cache_dir: Path, chain: LiveChain, templates: Templates, mark_for: Callable[[str], str]
) -> tuple[Path, str, str]:
    """The cached Secure Boot ESP image: (image, mark, stub grub.cfg)."""
    key = signed_esp_key(chain, templates)
    mark = mark_for(key)
    stub = stub_config(templates, mark)
    image = cache_dir / f"esp-sb-{key}.img"
    if image.is_file():
        return image, mark, stub
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = {"MTOOLS_SKIP_CHECK": "1"}
    with tempfile.TemporaryDirectory(prefix="esp-sb-", dir=cache_dir) as tmp_name:
        tmp = Path(tmp_name)
        cfg, img = tmp / "grub.cfg", tmp / "esp.img"
        cfg.write_text(stub)
        payload = sum(p.stat().st_size for p in (chain.shim, chain.grub, chain.mokmanager))
        run(["mkfs.vfat", "-C", "-n", ESP_LABEL, str(img), str(esp_size_kib(payload))])
        run(["mmd", "-i", str(img), "::/EFI", "::/EFI/BOOT", "::/EFI/debian"], extra_env=env)
        for src, dest in (
            (chain.shim, "::/EFI/BOOT/BOOTX64.EFI"),
            (chain.grub, "::/EFI/BOOT/grubx64.efi"),
            (chain.mokmanager, "::/EFI/BOOT/mmx64.efi"),
            (cfg, f"::/{STUB_PATH}"),
        ):
            run(["mcopy", "-i", str(img), str(src), dest], extra_env=env)
        with atomic_output(image) as out:
            os.replace(img, out)
    return image, mark, stub
