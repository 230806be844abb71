"""Uploads on the server: where a slot's files go, chunks that resume, and the byte-level check
when the worker says it is done.

DATA_DIR/farm/passes/<pass>/repo/            the repository snapshot the server took (sync)
DATA_DIR/farm/passes/<pass>/repo.tar         the same for workers
DATA_DIR/farm/passes/<pass>/slots/<n>-e<epoch>/<path>[.part]   a lease's upload
DATA_DIR/farm/signed/<sha256>.gpkg.tar       packages signed by the server, by the SHA-256 of
DATA_DIR/farm/signed/<sha256>.json           the unsigned upload (its size and SHA-1 beside it)

A chunk is appended at the offset the server has (so a dropped connection or a restarted
server costs at most one chunk); each chunk carries its SHA-256; a lease has its own directory,
so a new holder never appends to a dead one's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ConfigError, ProvisionError
from provision.farm.model import Manifest, upload_path
from provision.fsutil import write_atomic

MAX_CHUNK = 1 << 20


class Refused(ProvisionError):
    """An upload that does not hold together: the pass fails, the profile is held."""


class OffsetMismatch(ProvisionError):
    def __init__(self, have: int) -> None:
        self.have = have
        super().__init__(f"the server has {have} bytes of this file")


@dataclass(frozen=True)
class FarmLayout:
    data_dir: Path

    @property
    def base(self) -> Path:
        return self.data_dir / "farm"

    def pass_dir(self, pass_id: str) -> Path:
        return self.base / "passes" / pass_id

    def repo_dir(self, pass_id: str) -> Path:
        return self.pass_dir(pass_id) / "repo"

    def repo_tar(self, pass_id: str) -> Path:
        return self.pass_dir(pass_id) / "repo.tar"

    def slot_dir(self, pass_id: str, n: int, epoch: int) -> Path:
        return self.pass_dir(pass_id) / "slots" / f"{n}-e{epoch}"

    def staging(self, pass_id: str) -> Path:
        return self.pass_dir(pass_id) / "staging"

    @property
    def signed(self) -> Path:
        return self.base / "signed"

    def signed_package(self, sha256: str) -> Path:
        return self.signed / f"{sha256}.gpkg.tar"

    def signed_info(self, sha256: str) -> Path:
        return self.signed / f"{sha256}.json"


def have(layout: FarmLayout, sha256: str) -> bool:
    """The server already holds this package (signed): no need to upload it again."""
    return layout.signed_info(sha256).is_file() and layout.signed_package(sha256).is_file()


def signed_info(layout: FarmLayout, sha256: str) -> dict[str, object]:
    data = json.loads(layout.signed_info(sha256).read_text())
    return data if isinstance(data, dict) else {}


def remember_signed(layout: FarmLayout, sha256: str, signed: Path, size: int, sha1: str) -> Path:
    """Keep a signed package by the SHA-256 of its unsigned upload (hard link)."""
    dst = layout.signed_package(sha256)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        tmp = dst.with_name(f".{dst.name}.tmp")
        tmp.unlink(missing_ok=True)
        os.link(signed, tmp)
        os.replace(tmp, dst)
    write_atomic(layout.signed_info(sha256), json.dumps({"size": size, "sha1": sha1}))
    return dst


def prune_signed(layout: FarmLayout, grace: float = 86400.0) -> int:
    """Forget signed packages no snapshot has held for `grace` seconds (their only link is
    the store's, unchanged since: a pass that was told "the server has it" finds it still
    there).  Returns how many went."""
    gone = 0
    limit = time.time() - grace
    for pkg in layout.signed.glob("*.gpkg.tar") if layout.signed.is_dir() else []:
        try:
            st = pkg.stat()
            if st.st_nlink > 1 or st.st_ctime > limit:
                continue
            pkg.unlink()
        except FileNotFoundError:
            continue
        pkg.with_name(pkg.name.removesuffix(".gpkg.tar") + ".json").unlink(missing_ok=True)
        gone += 1
    return gone


def target(slot_dir: Path, rel: str) -> Path:
    return slot_dir / upload_path(rel)


def received(slot_dir: Path, rel: str) -> int:
    """Bytes the server has of a file (complete or partial)."""
    final = target(slot_dir, rel)
    if final.is_file():
        return final.stat().st_size
    part = final.with_name(final.name + ".part")
    return part.stat().st_size if part.is_file() else 0


def needed(layout: FarmLayout, slot_dir: Path, manifest: Manifest) -> list[dict[str, object]]:
    """What the worker still has to send: [{path, offset}] (the server's packages excluded)."""
    out: list[dict[str, object]] = []
    for f in manifest.files:
        if f.path.endswith(".gpkg.tar") and have(layout, f.sha256):
            continue
        got = received(slot_dir, f.path)
        if got < f.size or (f.size == 0 and not target(slot_dir, f.path).is_file()):
            out.append({"path": f.path, "offset": got})
    return out


def write_chunk(
    slot_dir: Path, manifest: Manifest, rel: str, offset: int, data: bytes, sha256: str
) -> int:
    """Append a chunk at `offset`; returns the bytes now held.  ConfigError for a bad chunk
    (the worker resends it), OffsetMismatch when the offset is not where the server is."""
    entry = manifest.by_path().get(upload_path(rel))
    if entry is None:
        raise ConfigError("path", f"{rel} is not in this upload's manifest")
    if len(data) > MAX_CHUNK:
        raise ConfigError("chunk", f"at most {MAX_CHUNK} bytes per chunk")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError("chunk", "the chunk does not match its X-Chunk-SHA256 (resend it)")
    final = target(slot_dir, rel)
    part = final.with_name(final.name + ".part")
    got = received(slot_dir, rel)
    if offset != got or final.is_file():
        raise OffsetMismatch(got)
    if offset + len(data) > entry.size:
        raise ConfigError("chunk", f"{rel}: more bytes than the manifest's {entry.size}")
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "ab") as fh:
        fh.write(data)
    size = offset + len(data)
    if size == entry.size:
        os.replace(part, final)
    return size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_received(layout: FarmLayout, slot_dir: Path, manifest: Manifest) -> None:
    """Every file of the manifest is here (or a package the server already has) and has the
    SHA-256 the worker declared; Refused names the first that is not."""
    for f in manifest.files:
        if f.path.endswith(".gpkg.tar") and have(layout, f.sha256):
            continue
        path = target(slot_dir, f.path)
        if not path.is_file():
            raise Refused(
                f"{f.path}: not uploaded ({received(slot_dir, f.path)} of {f.size} bytes)"
            )
        if path.stat().st_size != f.size or file_sha256(path) != f.sha256:
            raise Refused(f"{f.path}: SHA-256 differs from the upload manifest (a changed byte)")


def drop_slot(slot_dir: Path) -> None:
    shutil.rmtree(slot_dir, ignore_errors=True)
