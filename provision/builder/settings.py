"""Builder settings: DATA_DIR/build.toml (optional), validated once.

keep = 5               # snapshots kept per profile
sync_interval = 3600   # seconds between passes of `provision build --forever`
jobs = 1               # emerge --jobs
root = "prefix"        # default build root kind: prefix | stage
distcc_hosts = ["10.0.0.5/4", "10.0.0.6:3632/8"]   # FEATURES=distcc with these DISTCC_HOSTS
images = true          # also publish each profile's system image (system.tar.zst)
[distfiles."sys-kernel/demo-kernel-bin"]   # files for fetch-restricted packages (DISTDIR)
"demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"
[profile.server-amd64]
root = "stage"
stage = "/srv/stages/stage3-amd64-openrc.tar.xz"
require_verifications = 2   # build farm: publish a package only when 2 workers agree on it

broker = "redis://10.0.0.2:6379/0"   # build farm: passes run on workers (docs/farm.md)
[farm]
visibility_timeout = 43200   # s; above the longest pass (Redis redelivers unacked messages)
lease_ttl = 60               # s without a worker heartbeat before its pass goes to another
requeue_grace = 30           # s a queued pass may wait before the server checks the broker
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from provision.errors import ConfigError


class RootKind(StrEnum):
    PREFIX = "prefix"  # Portage from PyPI in an EPREFIX (any Linux, unprivileged)
    STAGE = "stage"  # a Gentoo stage3 unpacked and entered with bubblewrap


ROOT_KINDS = tuple(k.value for k in RootKind)
KEYS = (
    "keep",
    "sync_interval",
    "jobs",
    "root",
    "stage",
    "profile",
    "distcc_hosts",
    "images",
    "distfiles",
    "broker",
    "farm",
    "require_verifications",
)
PROFILE_KEYS = ("root", "stage", "require_verifications")
FARM_KEYS = ("visibility_timeout", "lease_ttl", "requeue_grace")
MAX_VERIFICATIONS = 16


@dataclass(frozen=True)
class RootSpec:
    kind: RootKind = RootKind.PREFIX
    stage: Path | None = None  # the stage tarball, for kind "stage"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, RootKind):
            raise TypeError(f"RootSpec.kind: {self.kind!r} is not a RootKind")
        if self.kind is RootKind.STAGE and self.stage is None:
            raise ConfigError("stage", "a stage root needs a stage tarball (stage = PATH)")


@dataclass(frozen=True)
class FarmTuning:
    """Timing of the build farm (build.toml [farm]); see docs/farm.md."""

    visibility_timeout: int = 43200  # above the longest pass, or Redis redelivers it
    lease_ttl: float = 60.0  # a pass whose worker is silent this long goes to another worker
    requeue_grace: float = 30.0  # a pass queued this long: is its message still in the broker?

    def __post_init__(self) -> None:
        if not 1 <= self.lease_ttl <= 3600 or not 1 <= self.requeue_grace <= 86400:
            raise ConfigError(
                "farm", "lease_ttl (1..3600) or requeue_grace (1..86400) out of range"
            )
        if self.visibility_timeout < 60:
            raise ConfigError("farm.visibility_timeout", "at least 60 s (above the longest pass)")


@dataclass(frozen=True)
class BuildSettings:
    keep: int = 5
    sync_interval: float = 3600.0
    jobs: int = 1
    root: RootSpec = field(default_factory=RootSpec)
    per_profile: dict[str, RootSpec] = field(default_factory=dict)
    distcc_hosts: tuple[str, ...] = ()
    images: bool = True
    distfiles: dict[str, dict[str, str]] = field(default_factory=dict)
    broker: str = ""  # the build farm's Celery broker (redis://...); "" = build in-process
    farm: FarmTuning = field(default_factory=FarmTuning)
    require_verifications: int = 1  # workers that must agree on a package (k-of-n)
    verifications: dict[str, int] = field(default_factory=dict)  # per profile

    def root_for(self, profile: str) -> RootSpec:
        return self.per_profile.get(profile, self.root)

    def verifications_for(self, profile: str) -> int:
        return self.verifications.get(profile, self.require_verifications)

    def with_root(self, root: RootSpec) -> BuildSettings:
        """Command-line override: every profile uses this root."""
        return replace(self, root=root, per_profile={})


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _root(where: str, table: dict[str, Any], base: Path) -> RootSpec:
    unknown = sorted(set(table) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}".lstrip("."), f"unknown key (allowed: {', '.join(PROFILE_KEYS)})"
        )
    kind = table.get("root", "prefix")
    stage = table.get("stage")
    if not isinstance(kind, str) or (stage is not None and not isinstance(stage, str)):
        raise ConfigError(where, "root and stage must be strings")
    if kind not in ROOT_KINDS:
        raise ConfigError(
            f"{where}.root".lstrip("."), f"{kind!r} is not a build root kind (prefix, stage)"
        )
    try:
        return RootSpec(RootKind(kind), (base / stage) if stage else None)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc.where}".lstrip("."), exc.message) from None


def _distfiles(value: Any) -> dict[str, dict[str, str]]:
    allowed = '[distfiles."category/name"] with "file-name" = "/source/path-or-glob"'
    if not isinstance(value, dict):
        raise ConfigError("distfiles", f"expected tables ({allowed})")
    out = {}
    for package, files in value.items():
        cat, _, pn = package.partition("/")
        ok = bool(cat and pn and "/" not in pn) and isinstance(files, dict)
        if not ok or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in files.items()
        ):
            raise ConfigError(f"distfiles.{package}", f"expected {allowed}")
        out[package] = dict(files)
    return out


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"expected true or false, got {value!r}")
    return value


def _hosts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(h, str) and h.strip() for h in value):
        raise ConfigError(
            "distcc_hosts", 'expected an array of DISTCC_HOSTS entries ("host:port/jobs")'
        )
    return tuple(h.strip() for h in value)


def _count(where: str, value: Any) -> int:
    count = _int(where, value, 1)
    if count > MAX_VERIFICATIONS:
        raise ConfigError(where, f"at most {MAX_VERIFICATIONS} workers, got {count}")
    return count


def _broker(value: Any) -> str:
    """A Redis URL (the farm's only broker transport), or "" for none."""
    if not isinstance(value, str):
        raise ConfigError("broker", "expected a URL string (redis://HOST:6379/0)")
    return check_broker(value) if value else ""


def check_broker(url: str) -> str:
    """redis://[:password@]host[:port][/db] or rediss://...; the URL unchanged, else ConfigError."""
    if len(url) > 500 or not re.fullmatch(r"rediss?://[^\s/?#]+(/\d{1,2})?/?\Z", url):
        raise ConfigError("broker", f"{url[:60]!r} is not a Redis URL (redis://HOST:6379/0)")
    return url


def _farm(value: Any) -> FarmTuning:
    if not isinstance(value, dict):
        raise ConfigError("farm", f"expected a table [farm] ({', '.join(FARM_KEYS)})")
    unknown = sorted(set(value) - set(FARM_KEYS))
    if unknown:
        raise ConfigError(f"farm.{unknown[0]}", f"unknown key (allowed: {', '.join(FARM_KEYS)})")
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ConfigError(f"farm.{key}", f"expected a number of seconds, got {item!r}")
    return FarmTuning(
        visibility_timeout=int(value.get("visibility_timeout", FarmTuning.visibility_timeout)),
        lease_ttl=float(value.get("lease_ttl", FarmTuning.lease_ttl)),
        requeue_grace=float(value.get("requeue_grace", FarmTuning.requeue_grace)),
    )


def parse_settings(text: str, where: str, base: Path) -> BuildSettings:
    """Pure: build.toml text -> BuildSettings (relative stage paths resolve against base)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from exc
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]}", f"unknown key (allowed: {', '.join(KEYS)})")
    profiles = raw.get("profile", {})
    if not isinstance(profiles, dict) or not all(isinstance(t, dict) for t in profiles.values()):
        raise ConfigError(f"{where}: profile", "expected tables [profile.NAME]")
    top: dict[str, Any] = {k: raw[k] for k in ("root", "stage") if k in raw}

    try:
        counts = {
            n: _count(f"profile.{n}.require_verifications", t["require_verifications"])
            for n, t in profiles.items()
            if "require_verifications" in t
        }
        return BuildSettings(
            keep=_int("keep", raw.get("keep", 5), 1),
            sync_interval=float(_int("sync_interval", raw.get("sync_interval", 3600), 1)),
            jobs=_int("jobs", raw.get("jobs", 1), 1),
            root=_root("", top, base),
            per_profile={n: _root(f"profile.{n}", t, base) for n, t in profiles.items()},
            distcc_hosts=_hosts(raw.get("distcc_hosts", [])),
            images=_bool("images", raw.get("images", True)),
            distfiles=_distfiles(raw.get("distfiles", {})),
            broker=_broker(raw.get("broker", "")),
            farm=_farm(raw.get("farm", {})),
            require_verifications=_count(
                "require_verifications", raw.get("require_verifications", 1)
            ),
            verifications=counts,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.where}", exc.message) from None


def load_settings(path: Path) -> BuildSettings:
    if not path.is_file():
        return BuildSettings()
    return parse_settings(path.read_text(), str(path), path.parent)
