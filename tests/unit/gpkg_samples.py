"""Small GPKG files made in memory (the layout Portage writes: <name>/gpkg-1, metadata.tar.zst,
image.tar.zst, Manifest), and the Packages index entries that describe them, for unit tests of
code that reads packages without Portage."""

from __future__ import annotations

import hashlib
import io
import tarfile

import zstandard


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_gpkg(cpv: str, image: dict[str, bytes], eprefix: str = "") -> bytes:
    category, pf = cpv.split("/")
    name = pf
    meta = {
        f"metadata/{k}": v.encode()
        for k, v in {
            "CATEGORY": category + "\n",
            "PF": pf + "\n",
            "EPREFIX": eprefix + "\n",
            "CHOST": "x86_64-pc-linux-gnu\n",
            "CFLAGS": "-O2 -pipe\n",
        }.items()
    }
    zstd = zstandard.ZstdCompressor()
    members = {
        f"{name}/gpkg-1": b"",
        f"{name}/metadata.tar.zst": zstd.compress(_tar(meta)),
        f"{name}/image.tar.zst": zstd.compress(
            _tar({f"image{eprefix}{path}": data for path, data in image.items()})
        ),
    }
    manifest = "".join(
        f"DATA {n.split('/', 1)[1]} {len(d)} SHA512 {hashlib.sha512(d).hexdigest()}\n"
        for n, d in sorted(members.items())
    )
    members[f"{name}/Manifest"] = manifest.encode()
    return _tar(members)


def index_entry(cpv: str, path: str, data: bytes) -> str:
    return (
        f"BUILD_ID: 1\nCPV: {cpv}\nPATH: {path}\nSHA1: {hashlib.sha1(data).hexdigest()}\n"
        f"SIZE: {len(data)}\nSLOT: 0\nUSE: amd64\n"
    )


def packages_index(entries: list[str]) -> str:
    header = f"ARCH: amd64\nPACKAGES: {len(entries)}\nVERSION: 0\n"
    return "\n".join([header, *entries]) + "\n"
