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
"""

from __future__ import annotations

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
)


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
class BuildSettings:
    keep: int = 5
    sync_interval: float = 3600.0
    jobs: int = 1
    root: RootSpec = field(default_factory=RootSpec)
    per_profile: dict[str, RootSpec] = field(default_factory=dict)
    distcc_hosts: tuple[str, ...] = ()
    images: bool = True
    distfiles: dict[str, dict[str, str]] = field(default_factory=dict)

    def root_for(self, profile: str) -> RootSpec:
        return self.per_profile.get(profile, self.root)

    def with_root(self, root: RootSpec) -> BuildSettings:
        """Command-line override: every profile uses this root."""
        return replace(self, root=root, per_profile={})


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _root(where: str, table: dict[str, Any], base: Path) -> RootSpec:
    unknown = sorted(set(table) - {"root", "stage"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key (allowed: root, stage)")
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
        return BuildSettings(
            keep=_int("keep", raw.get("keep", 5), 1),
            sync_interval=float(_int("sync_interval", raw.get("sync_interval", 3600), 1)),
            jobs=_int("jobs", raw.get("jobs", 1), 1),
            root=_root("", top, base),
            per_profile={n: _root(f"profile.{n}", t, base) for n, t in profiles.items()},
            distcc_hosts=_hosts(raw.get("distcc_hosts", [])),
            images=_bool("images", raw.get("images", True)),
            distfiles=_distfiles(raw.get("distfiles", {})),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.where}", exc.message) from None


def load_settings(path: Path) -> BuildSettings:
    if not path.is_file():
        return BuildSettings()
    return parse_settings(path.read_text(), str(path), path.parent)
