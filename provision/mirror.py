"""Mirrors of the published snapshots: pull, verify, expose atomically; and audit a mirror.

A mirror directory has the server's layout for what it serves:

    DIR/snapshots/<profile>/<id>/{binhost/,repo.tar.gz,image/,meta.json}   immutable
    DIR/snapshots/<profile>/current -> <id>
    DIR/keys/verify, DIR/keys/fingerprint                                   the server's public key

so the server's own routes (or nginx on DIR/snapshots) serve it.  A snapshot is downloaded into
.incoming-<id>, every package signature and the index are checked (snapshots.verify, the same
check the server runs before it publishes), the image's signed manifest and every image chunk
too; only then is it renamed into place and `current` flipped.  A package a previous mirrored
snapshot already has (same path, size and SHA-1 in the index) is hard-linked, not fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, ProvisionError, PublishError
from provision.fsutil import fsync_dir, symlink_atomic, write_atomic
from provision.image.manifest import ImageError, verified_chunks
from provision.image.unpack import fetch_manifest
from provision.run import run
from provision.signing import gpg_argv
from provision.snapshots.layout import DataLayout
from provision.snapshots.publish import INCOMING, prune
from provision.snapshots.read import current_id
from provision.snapshots.verify import check_binhost, check_package, parse_packages, read_index

log = logging.getLogger(__name__)
IMAGE_FILES = ("system.tar.zst", "system.tar.zst.manifest", "system.tar.zst.manifest.asc", "inputs")
Fetch = Callable[[str, Path], bool]  # url, dest -> False when the server has no such file (404)


MIRRORS_FILE = "mirrors.toml"
KEY_FILE = "key.asc"  # DIR/keys/key.asc: the server's public key, served on to clients
DEFAULT_PRIORITY = 10000  # above the server's own entry (9999): clients prefer their mirror


class MirrorError(ProvisionError):
    """A snapshot could not be mirrored (unreachable source, or it does not verify)."""


def parse_mirrors(text: str, where: str) -> tuple[tuple[int, str], ...]:
    """DATA_DIR/mirrors.toml -> ((priority, url), ...): what installers put in binrepos.conf.

    [[mirror]]
    url = "http://mirror.branch.example:8081"
    priority = 10000     # higher than the server's 9999: preferred
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from exc
    items = raw.get("mirror", [])
    if set(raw) - {"mirror"} or not isinstance(items, list):
        raise ConfigError(where, "expected [[mirror]] tables (url, priority)")
    out = []
    for n, item in enumerate(items):
        url = item.get("url") if isinstance(item, dict) else None
        prio = item.get("priority", DEFAULT_PRIORITY) if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or " " in url:
            raise ConfigError(f"{where}: mirror[{n}].url", "expected an http(s) URL")
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 1_000_000:
            raise ConfigError(f"{where}: mirror[{n}].priority", "expected an integer 0..1000000")
        out.append((prio, url.rstrip("/")))
    return tuple(out)


def load_mirrors(data_dir: Path) -> tuple[tuple[int, str], ...]:
    path = data_dir / MIRRORS_FILE
    return parse_mirrors(path.read_text(), str(path)) if path.is_file() else ()


def http_fetch(url: str, dest: Path) -> bool:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=120) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        if exc.code == 404:
            return False
        raise MirrorError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise MirrorError(f"cannot fetch {url}: {exc}") from exc
    os.replace(tmp, dest)
    return True


@dataclass(frozen=True)
class MirrorKey:
    verify_home: Path
    fingerprint: str


def install_key(keys_dir: Path, armored: str, fingerprint: str) -> MirrorKey:
    """Import the server's public key (it must be the one `fingerprint` names), trusted."""
    fpr = fingerprint.replace(" ", "").upper()
    if len(fpr) != 40 or any(c not in "0123456789ABCDEF" for c in fpr):
        raise ConfigError("--fingerprint", f"{fingerprint!r} is not a 40-digit key fingerprint")
    home = keys_dir / "verify"
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    run(gpg_argv(home, "--import"), input=armored)
    listed = run(gpg_argv(home, "--with-colons", "--list-keys", fpr), check=False)
    if listed.returncode != 0 or f"fpr:::::::::{fpr}:" not in listed.stdout:
        raise ConfigError("--fingerprint", f"the key offered is not {fpr}")
    run(gpg_argv(home, "--import-ownertrust"), input=f"{fpr}:6:\n")
    run(gpg_argv(home, "--check-trustdb"))
    exported = run(gpg_argv(home, "--armor", "--export", fpr)).stdout
    write_atomic(keys_dir / KEY_FILE, exported)
    write_atomic(keys_dir / "fingerprint", fpr + "\n")
    return MirrorKey(home, fpr)


def load_mirror_key(keys_dir: Path) -> MirrorKey | None:
    path = keys_dir / "fingerprint"
    if not path.is_file():
        return None
    return MirrorKey(keys_dir / "verify", path.read_text().strip())


def verify_snapshot(snap: Path, key: MirrorKey) -> None:
    """Index, packages and signatures (check_binhost), the image and meta; MirrorError."""
    try:
        check_binhost(snap / "binhost", key.verify_home, key.fingerprint)
    except PublishError as exc:
        raise MirrorError(f"{snap.name}: {exc}") from exc
    meta = json.loads((snap / "meta.json").read_text()) if (snap / "meta.json").is_file() else {}
    if meta.get("fingerprint") not in (None, key.fingerprint):
        raise MirrorError(
            f"{snap.name}: signed by {meta.get('fingerprint')}, not {key.fingerprint}"
        )
    image = snap / "image"
    if (image / "system.tar.zst.manifest").is_file():
        try:
            manifest = fetch_manifest(str(image), key.verify_home)
            with open(image / manifest.name, "rb") as fh:
                for _ in verified_chunks(fh, manifest):
                    pass
        except (ImageError, OSError) as exc:
            raise MirrorError(f"{snap.name}: image: {exc}") from exc


def _reuse(previous: Path | None, rel: str, entry: dict[str, str], dest: Path) -> bool:
    """Hard-link a package from the previous mirrored snapshot when the index says it is the
    same file."""
    if previous is None:
        return False
    old = {e.get("PATH"): e for e in read_index(previous / "binhost").entries}.get(rel)
    src = previous / "binhost" / rel
    if old is None or not src.is_file():
        return False
    if (old.get("SIZE"), old.get("SHA1")) != (entry.get("SIZE"), entry.get("SHA1")):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.link(src, dest)
    return True


def pull_snapshot(
    source: str, dest: DataLayout, profile: str, sid: str, key: MirrorKey, fetch: Fetch
) -> Path:
    """Download, verify and expose one snapshot (not made current here)."""
    base = dest.snapshots(profile)
    final = base / sid
    if final.is_dir():
        return final
    incoming = base / f"{INCOMING}{sid}"
    shutil.rmtree(incoming, ignore_errors=True)
    url = f"{source.rstrip('/')}/snapshots/{profile}/{sid}"
    try:
        for name in ("meta.json", "binhost/Packages"):
            if not fetch(f"{url}/{name}", incoming / name):
                raise MirrorError(f"{url}/{name}: not found")
        fetch(f"{url}/binhost/Packages.gz", incoming / "binhost" / "Packages.gz")
        prev_id = current_id(dest, profile)
        previous = base / prev_id if prev_id else None
        index = parse_packages((incoming / "binhost" / "Packages").read_text())
        for entry in index.entries:
            rel = entry.get("PATH", "")
            target = incoming / "binhost" / rel
            if not rel or ".." in rel.split("/"):
                raise MirrorError(f"{sid}: bad PATH {rel!r} in the index")
            if not _reuse(previous, rel, entry, target) and not fetch(
                f"{url}/binhost/{rel}", target
            ):
                raise MirrorError(f"{url}/binhost/{rel}: not found")
        fetch(f"{url}/repo.tar.gz", incoming / "repo.tar.gz")
        for name in IMAGE_FILES:
            fetch(f"{url}/image/{name}", incoming / "image" / name)
        verify_snapshot(incoming, key)
        fsync_dir(incoming)
        os.replace(incoming, final)
        fsync_dir(base)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return final


def pull(
    source: str, dest_dir: Path, key: MirrorKey, *, keep: int = 5, fetch: Fetch = http_fetch
) -> list[str]:
    """Mirror what the source publishes; returns "profile/id" for each snapshot made current.
    A snapshot that does not verify is refused (MirrorError names it) and current stays."""
    layout = DataLayout(dest_dir)
    index_path = dest_dir / ".index.json"
    if not fetch(f"{source.rstrip('/')}/snapshots/index.json", index_path):
        raise MirrorError(f"{source}: no snapshot index (is it a provision server or mirror?)")
    data: Any = json.loads(index_path.read_text())
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict):
        raise MirrorError(f"{source}: malformed snapshot index")
    flipped = []
    errors = []
    for profile, info in sorted(profiles.items()):
        cur = str(info.get("current", "")) if isinstance(info, dict) else ""
        if not cur or not _safe(profile) or not _safe(cur):
            continue
        try:
            pull_snapshot(source, layout, profile, cur, key, fetch)
        except MirrorError as exc:
            log.error("mirror: %s/%s refused: %s", profile, cur, exc)
            errors.append(f"{profile}/{cur}: {exc}")
            continue
        if current_id(layout, profile) != cur:
            symlink_atomic(cur, layout.current_link(profile))
            flipped.append(f"{profile}/{cur}")
        prune(layout, profile, keep)
    if errors:
        raise MirrorError("; ".join(errors))
    return flipped


def _safe(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".") and len(name) <= 80


def forever(
    source: str,
    dest_dir: Path,
    key: MirrorKey,
    *,
    interval: float,
    stop: threading.Event,
    keep: int = 5,
    report: Callable[[str], None] = print,
) -> None:
    while True:
        try:
            for item in pull(source, dest_dir, key, keep=keep):
                report(f"mirror: {item} is current")
        except MirrorError as exc:
            report(f"mirror: {exc}")
        if stop.wait(interval):
            return


# --- auditing a mirror (provision verify --mirror) ----------------------------------------------
class Finding(StrEnum):
    OK = "ok"
    ALTERED = "altered"  # bytes differ from what the server published
    UNSIGNED = "bad-signature"  # the package's signature does not verify
    MISSING = "missing"


@dataclass(frozen=True)
class Audit:
    path: str
    finding: Finding
    detail: str = ""


def audit(
    snapshot: Path, mirror: str, profile: str, key: MirrorKey, *, fetch: Fetch = http_fetch
) -> list[Audit]:
    """Compare a mirror's copy of a published snapshot with the original, file by file, and
    check each package's signature as a client would."""
    url = f"{mirror.rstrip('/')}/snapshots/{profile}/{snapshot.name}/binhost"
    out: list[Audit] = []
    with tempfile.TemporaryDirectory(prefix="provision-audit-") as tmp:
        for entry in read_index(snapshot / "binhost").entries:
            rel = entry["PATH"]
            dest = Path(tmp) / rel
            if not fetch(f"{url}/{rel}", dest):
                out.append(Audit(rel, Finding.MISSING))
                continue
            data = dest.read_bytes()
            if hashlib.sha1(data).hexdigest() != entry.get("SHA1") or str(len(data)) != entry.get(
                "SIZE"
            ):
                detail = ""
                try:
                    check_package(dest, key.verify_home, key.fingerprint)
                except PublishError as exc:
                    detail = str(exc).split(": ", 1)[-1]
                out.append(Audit(rel, Finding.ALTERED, detail or "bytes differ"))
                continue
            try:
                check_package(dest, key.verify_home, key.fingerprint)
            except PublishError as exc:
                out.append(Audit(rel, Finding.UNSIGNED, str(exc)))
                continue
            out.append(Audit(rel, Finding.OK))
    return out


def render_audit(results: list[Audit], mirror: str, snapshot: str) -> str:
    lines = [
        f"{r.finding.value:14} {r.path}" + (f"  ({r.detail})" if r.detail else "") for r in results
    ]
    bad = sum(1 for r in results if r.finding is not Finding.OK)
    lines.append(
        f"{mirror}: snapshot {snapshot}: {len(results) - bad} of {len(results)} packages intact"
        + (f", {bad} NOT" if bad else "")
    )
    return "\n".join(lines) + "\n"
