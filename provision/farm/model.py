"""The farm's vocabulary, pure: worker names and tokens, slot and pass states, Celery queue
names, where a slot goes (routing), and the upload manifest a worker sends (validated here,
since it comes from another machine)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from provision.errors import ConfigError
from provision.names import ProfileName, WorkerName

_PASS_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\Z")
_SLOT_RE = re.compile(r"([0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})\.([1-9][0-9]?)\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
# category/name/file.gpkg.tar as Portage lays out a PKGDIR with binpkg-multi-instance
_PKG_PATH_RE = re.compile(
    r"[A-Za-z0-9+_][A-Za-z0-9+_.-]{0,63}/[A-Za-z0-9+_][A-Za-z0-9+_.-]{0,127}/"
    r"[A-Za-z0-9+_][A-Za-z0-9+_.-]{0,191}\.gpkg\.tar\Z"
)
INDEX = "Packages"  # the worker's Packages index
LOG = "log"  # the pass log
MAX_FILES = 20000
MAX_FILE_SIZE = 64 << 30
MAX_TEXT = 16 << 10
MAX_LIST = 20000
TOKEN_PREFIX = "pfw_"


def worker_name(value: object) -> str:
    """A worker's name (provision.names.WorkerName): a-z, 0-9 and '-', at most 32."""
    return str(WorkerName(value))


def profile_name(value: object) -> str:
    return str(ProfileName(value))


def pass_id(value: object) -> str:
    if not isinstance(value, str) or not _PASS_RE.match(value):
        raise ConfigError("pass", "not a pass id")
    return value


def slot_id(pass_: str, n: int) -> str:
    return f"{pass_}.{n}"


def parse_slot_id(value: object) -> tuple[str, int]:
    """'<pass id>.<n>' -> (pass id, n); ConfigError otherwise."""
    m = _SLOT_RE.match(value) if isinstance(value, str) else None
    if not m:
        raise ConfigError("slot", "not a slot id (<pass id>.<n>)")
    return m.group(1), int(m.group(2))


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored as their SHA-256 (a leaked database leaks no token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def profile_queue(profile: str) -> str:
    return f"profile.{profile}"


def worker_queue(worker: str) -> str:
    return f"worker.{worker}"


class SlotState(StrEnum):
    QUEUED = "queued"  # published (or waiting for a worker to route to)
    LEASED = "leased"  # a worker holds the lease and heartbeats
    UPLOADED = "uploaded"  # every file arrived and matches the worker's manifest
    ACCEPTED = "accepted"  # index <-> files checked, content digests recorded
    REFUSED = "refused"  # the upload is inconsistent: the pass fails
    FAILED = "failed"  # the worker's build failed: the pass fails
    CANCELLED = "cancelled"  # the pass was decided without it


OPEN_SLOTS = (SlotState.QUEUED, SlotState.LEASED)
DONE_SLOTS = (SlotState.ACCEPTED, SlotState.REFUSED, SlotState.FAILED, SlotState.CANCELLED)


class PassState(StrEnum):
    OPEN = "open"  # slots out on workers
    PUBLISHED = "published"  # finished and handed to the publisher
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class WorkerView:
    """What routing needs of a worker."""

    name: str
    live: bool
    profiles: tuple[str, ...]  # () = every profile
    busy: bool  # holds a lease or has a slot queued on its own queue
    queues: tuple[str, ...] = ()  # what it consumes (from its heartbeat)

    def serves(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles


def route(
    profile: str,
    n: int,
    workers: Sequence[WorkerView],
    *,
    taken: Iterable[str] = (),
    last_builder: str = "",
) -> str:
    """The queue for slot n of a pass of `profile` ("" = no worker fits yet; try again later).

    Slot 1 goes to the worker that built the profile last when it is alive and idle (its root
    and binaries are warm), else to the profile's queue (any worker serving the profile), or,
    when no live worker consumes that queue yet (it started before the profile existed), to
    the own queue of a worker that serves the profile.  Verification slots (n > 1) go to the
    own queue of a live worker that has no slot of this pass yet (`taken`): independent
    builders, idle ones first.
    """
    taken = set(taken)
    fit = sorted(
        (w for w in workers if w.live and w.serves(profile) and w.name not in taken),
        key=lambda w: (w.busy, w.name),
    )
    if n == 1:
        sticky = [w for w in fit if w.name == last_builder and not w.busy]
        if sticky:
            return worker_queue(sticky[0].name)
        queue = profile_queue(profile)
        if not fit or any(queue in w.queues for w in fit):
            return queue
        return worker_queue(fit[0].name)
    return worker_queue(fit[0].name) if fit else ""


# --- the upload manifest ------------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BuildOutcome:
    """What the worker says about its build (the files say the rest)."""

    ok: bool
    error: str = ""
    advice: str = ""
    built: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    eprefix: str = ""  # the worker's EPREFIX ("" for a stage root)
    seconds: float = 0.0


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]
    outcome: BuildOutcome

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def packages(self) -> list[FileEntry]:
        return [f for f in self.files if f.path.endswith(".gpkg.tar")]

    def as_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "outcome": {
                "ok": o.ok,
                "error": o.error,
                "advice": o.advice,
                "built": list(o.built),
                "reused": list(o.reused),
                "eprefix": o.eprefix,
                "seconds": o.seconds,
            },
        }


def upload_path(value: object) -> str:
    """A file name a worker may upload: Packages, log, or category/name/file.gpkg.tar."""
    if value in (INDEX, LOG):
        return str(value)
    if not isinstance(value, str) or not _PKG_PATH_RE.match(value) or "/." in value:
        raise ConfigError("path", f"{str(value)[:80]!r} is not an uploadable file")
    return value


def _text(where: str, value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ConfigError(where, f"expected a string of at most {limit} characters")
    return value


def _strings(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ConfigError(where, f"expected a list of at most {MAX_LIST} strings")
    return tuple(_text(where, v, 256) for v in value)


def parse_manifest(data: object) -> Manifest:
    """Validate a worker's manifest document (hostile input) into a Manifest."""
    if not isinstance(data, Mapping):
        raise ConfigError("manifest", "expected an object")
    files = data.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        raise ConfigError("manifest.files", f"expected a list of 1..{MAX_FILES} files")
    entries = []
    seen = set()
    for item in files:
        if not isinstance(item, Mapping):
            raise ConfigError("manifest.files", "expected objects {path, size, sha256}")
        path = upload_path(item.get("path"))
        size = item.get("size")
        digest = item.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE_SIZE:
            raise ConfigError(f"manifest.files.{path}", "size out of range")
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise ConfigError(f"manifest.files.{path}", "sha256 must be 64 hex digits")
        if path in seen:
            raise ConfigError(f"manifest.files.{path}", "listed twice")
        seen.add(path)
        entries.append(FileEntry(path, size, digest))
    raw = data.get("outcome")
    if not isinstance(raw, Mapping):
        raise ConfigError("manifest.outcome", "expected an object")
    ok = raw.get("ok")
    seconds = raw.get("seconds", 0.0)
    if not isinstance(ok, bool):
        raise ConfigError("manifest.outcome.ok", "expected true or false")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ConfigError("manifest.outcome.seconds", "expected a duration")
    eprefix = _text("manifest.outcome.eprefix", raw.get("eprefix", ""), 4096)
    if eprefix and not eprefix.startswith("/"):
        raise ConfigError("manifest.outcome.eprefix", "expected an absolute path or nothing")
    outcome = BuildOutcome(
        ok=ok,
        error=_text("manifest.outcome.error", raw.get("error", "")),
        advice=_text("manifest.outcome.advice", raw.get("advice", "")),
        built=_strings("manifest.outcome.built", raw.get("built", [])),
        reused=_strings("manifest.outcome.reused", raw.get("reused", [])),
        eprefix=eprefix,
        seconds=float(seconds),
    )
    names = {e.path for e in entries}
    if ok and INDEX not in names:
        raise ConfigError("manifest.files", "a successful build uploads its Packages index")
    return Manifest(tuple(entries), outcome)
