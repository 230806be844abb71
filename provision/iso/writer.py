"""Master an IsoPlan with pycdlib: stream every file, write a temp file, rename (thin applier)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import atomic_output
from provision.iso import gpt
from provision.iso.plan import IsoPlan

Progress = Callable[[int, int], None]
S_IFREG = 0o100000


class IsoError(ProvisionError):
    """pycdlib refused the image."""


def master(plan: IsoPlan) -> pycdlib.PyCdlib:
    """A pycdlib object holding the plan; file data is only read when it is written out."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=plan.volume_id)
    for d in plan.dirs:
        iso.add_directory(d.iso, rr_name=d.rr_name, joliet_path=d.joliet)
    for f in plan.files:
        w = f.where
        mode = S_IFREG | f.mode
        if f.source is not None:
            # add_file opens the file only while writing: no descriptor per file is held.
            iso.add_file(
                str(f.source), w.iso, rr_name=w.rr_name, joliet_path=w.joliet, file_mode=mode
            )
        else:
            data = f.data or b""
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                w.iso,
                rr_name=w.rr_name,
                joliet_path=w.joliet,
                file_mode=mode,
            )
    cat = plan.boot_catalog
    iso.add_eltorito(
        plan.bios_boot.iso,
        bootcatfile=cat.iso,
        rr_bootcatname=cat.rr_name,
        joliet_bootcatfile=cat.joliet,
        boot_load_size=4,
        boot_info_table=True,
    )
    iso.add_eltorito(plan.efi_boot.iso, efi=True, platform_id=0xEF)
    iso.add_isohybrid(efi=True)
    return iso


def write_iso(
    plan: IsoPlan, out: Path, progress: Progress | None = None, *, mode: int = 0o644
) -> int:
    """Write the image to `out` atomically (with `mode`; 0600 for an image carrying a host
    token); returns its size.  No partial file on any error."""
    for f in plan.files:
        if f.source is not None and not os.access(f.source, os.R_OK):
            raise ConfigError(str(f.source), f"cannot read (needed for /{f.where.posix})")
    try:
        iso = master(plan)
    except PyCdlibException as exc:
        raise IsoError(f"{out}: cannot build the image: {exc}") from exc
    if not out.parent.is_dir():
        raise ConfigError(str(out), "its directory does not exist")
    cb = (lambda done, total, _opaque: progress(done, total)) if progress else None
    try:
        with atomic_output(out, mode) as tmp, open(tmp, "w+b") as fh:
            iso.write_fp(fh, progress_cb=cb)
            iso.close()
            gpt.repair(fh)
            fh.flush()
            size = fh.seek(0, os.SEEK_END)
    except PyCdlibException as exc:
        raise IsoError(f"{out}: cannot build the image: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(out), f"cannot write: {exc.strerror or exc}") from exc
    return size
