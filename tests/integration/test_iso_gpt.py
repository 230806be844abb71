"""The hybrid image's GPT is as consistent as xorriso's own isohybrid images: `sgdisk -v` finds
the same problems in both (the hybrid MBR's partitions overlap; the table overlaps partition 1,
which spans the image from sector 0), and nothing else — in particular one disk GUID."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provision.run import run
from tests.integration.iso_fixtures import SERVER, iso_cli, make_data_dir

pytestmark = pytest.mark.integration
ISOHDPFX = "/usr/lib/ISOLINUX/isohdpfx.bin"


def sgdisk_verify(image: Path) -> tuple[int, list[str]]:
    """`sgdisk -v`'s exit code and its findings, numbers replaced by N (the partition-array
    sizes differ: we write 128 entries, xorriso 248, so the overlap is 34 vs 64 blocks)."""
    res = run(["sgdisk", "-v", str(image)], check=False)
    findings = [
        re.sub(r"\d+", "N", line.strip())
        for line in res.stdout.splitlines()
        if line.startswith(("Problem:", "Warning!", "Identified"))
    ]
    return res.returncode, findings


def xorriso_twin(ours: Path, work: Path) -> Path:
    """The same files mastered by xorriso as an isohybrid image (MBR + GPT, El Torito BIOS and
    EFI), as distributions make their install media."""
    tree = work / "tree"
    run(["xorriso", "-osirrox", "on", "-indev", str(ours), "-extract", "/", str(tree)])
    twin = work / "xorriso.iso"
    run(
        [
            "xorriso", "-as", "mkisofs", "-o", str(twin), "-R", "-J", "-V", "TWIN",
            "-isohybrid-mbr", ISOHDPFX,
            "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
            "-boot-load-size", "4", "-boot-info-table",
            "-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot",
            "-isohybrid-gpt-basdat", str(tree),
        ]
    )  # fmt: skip
    return twin


def test_sgdisk_finds_what_it_finds_in_xorriso_images(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    ours = tmp_path / "ours.iso"
    assert iso_cli(data, "desktop-amd64", "--server", SERVER, "-o", str(ours)) == 0
    twin = xorriso_twin(ours, tmp_path)

    rc, found = sgdisk_verify(ours)
    twin_rc, twin_found = sgdisk_verify(twin)
    assert (rc, twin_rc) == (2, 2)  # sgdisk exits 2 for every hybrid image: compare messages
    assert found == twin_found, (found, twin_found)
    assert found == [
        "Problem: MBR partitions N and N overlap!",
        "Warning! Main partition table overlaps the first partition by N blocks!",
        "Identified N problems!",
    ]
    assert not any("GUID" in line for line in found)
