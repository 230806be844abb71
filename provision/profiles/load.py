"""Load profiles/*.toml: parse, resolve `inherits`, validate once into Profile models.

Inheritance: tables merge key by key; arrays and values in the child replace the parent's,
except the incremental arrays below, which append to the parent's (as Portage's own profile
stacking does for USE and packages).  An entry "-X" in an incremental array removes X.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, NotFound
from provision.names import ProfileName
from provision.profiles import validate as v
from provision.profiles.files import profile_names, profile_path
from provision.profiles.model import (
    BootstrapStep,
    DiskLayout,
    Filesystem,
    Firmware,
    Kernel,
    MergeAction,
    MergePolicy,
    MergeRule,
    Partition,
    PartitionTable,
    PortageSettings,
    Profile,
    Repository,
)

INCREMENTAL = {
    ("packages",),
    ("portage", "use"),
    ("portage", "features"),
    ("kernel", "config"),
    ("etc_merge", "frozen"),
    ("etc_merge", "rules"),
}
TOP_KEYS = (
    "name",
    "description",
    "inherits",
    "portage",
    "repositories",
    "packages",
    "kernel",
    "bootstrap",
    "disk",
    "etc_merge",
    "secure_boot",
)
PORTAGE_KEYS = (
    "profile",
    "chost",
    "cflags",
    "cxxflags",
    "makeopts",
    "cpu_flags_x86",
    "use",
    "features",
    "package_use",
    "accept_keywords",
    "binary_only",
    "extra",
)
MAX_FILE_BYTES = 1 << 20  # a profile is a small hand-written file
FILESYSTEMS = tuple(f.value for f in Filesystem)
MERGE_ACTIONS = tuple(a.value for a in MergeAction)


@dataclass
class _Raw:
    path: Path
    data: dict[str, Any]


def _read(path: Path) -> _Raw:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(str(path), f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return _Raw(path, tomllib.loads(raw.decode("utf-8")))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses per nested array/table
        raise ConfigError(str(path), "not valid TOML: nested too deeply") from exc


def merge_tables(
    parent: Mapping[str, Any], child: Mapping[str, Any], at: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Pure: the child's table laid over the parent's (see the module docstring)."""
    out = dict(parent)
    for key, value in child.items():
        here = (*at, key)
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge_tables(old, value, here)
        elif here in INCREMENTAL and isinstance(value, list) and isinstance(old, list):
            out[key] = apply_incremental(old, value)
        else:
            out[key] = value
    return out


def apply_incremental(parent: list[Any], child: list[Any]) -> list[Any]:
    out = list(parent)
    for item in child:
        if isinstance(item, str) and item.startswith("-") and item[1:] in out:
            out = [x for x in out if x != item[1:]]
        elif item not in out:
            out.append(item)
    return out


class ProfileSet:
    """All profiles of a directory, resolved lazily by name; each validated once.

    A name is looked up among the directory's files (`NAME.toml` whose stem is a valid
    ProfileName), never joined into a path: a name from outside cannot reach any other file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if not directory.is_dir():
            raise ConfigError(str(directory), "profile directory does not exist")
        self._cache: dict[str, Profile] = {}

    def names(self) -> list[str]:
        return profile_names(self.directory)

    def path_of(self, name: str) -> Path:
        return profile_path(self.directory, name)

    def get(self, name: str) -> Profile:
        if name not in self._cache:
            self._cache[name] = load_profile(self.path_of(name), self)
        return self._cache[name]

    def __iter__(self) -> Iterator[Profile]:
        return (self.get(n) for n in self.names())


def load_profiles(directory: Path) -> ProfileSet:
    return ProfileSet(directory)


def load_profile(path: Path, profiles: ProfileSet | None = None) -> Profile:
    """Read, resolve inheritance and validate one profile file."""
    profiles = profiles or ProfileSet(path.parent)
    data = _resolve(_read(path), profiles, [])
    try:
        return _build(path, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.where}" if exc.where else str(path), exc.message) from None


def _resolve(raw: _Raw, profiles: ProfileSet, chain: list[str]) -> dict[str, Any]:
    name = raw.path.stem
    if name in chain:
        cycle = " -> ".join([*chain, name])
        raise ConfigError(f"{raw.path}: inherits", f"inheritance cycle: {cycle}")
    parent_name = raw.data.get("inherits")
    if parent_name is None:
        return raw.data
    if not isinstance(parent_name, str) or not parent_name:
        raise ConfigError(
            f"{raw.path}: inherits", "expected the name of a parent profile (a string)"
        )
    try:
        parent_path = profiles.path_of(parent_name)
    except NotFound:
        known = ", ".join(profiles.names())
        raise ConfigError(
            f"{raw.path}: inherits", f"parent profile {parent_name!r} not found (known: {known})"
        ) from None
    parent = _resolve(_read(parent_path), profiles, [*chain, name])
    # The parent's own name/description/inherits are not inherited.
    base = {k: val for k, val in parent.items() if k not in ("name", "description", "inherits")}
    return merge_tables(base, raw.data)


def _table(key: str, value: Any) -> dict[str, Any]:
    return v.expect(key, value, dict, "a table")


def _build(path: Path, d: dict[str, Any]) -> Profile:
    v.no_unknown("", d, TOP_KEYS)
    name = v.string("name", d.get("name", path.stem))
    ProfileName(name)
    if name != path.stem:
        raise ConfigError("name", f"{name!r} must match the file name {path.stem!r}")
    repos = _repositories(path, d.get("repositories"))
    disk = _disk(_table("disk", d.get("disk", {})))
    secure_boot = v.boolean("secure_boot", d.get("secure_boot", False))
    if secure_boot and disk.firmware is Firmware.BIOS:
        raise ConfigError(
            "secure_boot", "Secure Boot is UEFI's: set disk.firmware to uefi or auto, not bios"
        )
    return Profile(
        name=name,
        source=str(path),
        description=v.text("description", d.get("description", "")),
        inherits=v.string("inherits", d.get("inherits", "")),
        portage=_portage(_table("portage", d.get("portage", {}))),
        repositories=repos,
        packages=v.string_list("packages", d.get("packages", []), v.atom),
        kernel=_kernel(_table("kernel", d.get("kernel", {}))),
        bootstrap=_bootstrap(d.get("bootstrap", [])),
        disk=disk,
        etc_merge=_etc_merge(_table("etc_merge", d.get("etc_merge", {}))),
        secure_boot=secure_boot,
    )


def _portage(t: dict[str, Any]) -> PortageSettings:
    v.no_unknown("portage", t, PORTAGE_KEYS)
    defaults = PortageSettings()
    package_use = {
        v.atom(f"portage.package_use.{k}", k): v.string_list(
            f"portage.package_use.{k}", val, v.use_flag
        )
        for k, val in _table("portage.package_use", t.get("package_use", {})).items()
    }
    keywords = {
        v.atom(f"portage.accept_keywords.{k}", k): v.string_list(
            f"portage.accept_keywords.{k}", val
        )
        for k, val in _table("portage.accept_keywords", t.get("accept_keywords", {})).items()
    }
    extra = {
        v.make_var(f"portage.extra.{k}", k): v.string(f"portage.extra.{k}", val)
        for k, val in _table("portage.extra", t.get("extra", {})).items()
    }
    profile = v.string("portage.profile", t.get("profile", ""))
    if not profile:
        raise ConfigError(
            "portage.profile", "required: the Portage profile, e.g. default/linux/amd64/23.0"
        )
    return PortageSettings(
        profile=profile,
        chost=v.string("portage.chost", t.get("chost", defaults.chost)),
        cflags=v.string("portage.cflags", t.get("cflags", defaults.cflags)),
        cxxflags=v.string("portage.cxxflags", t.get("cxxflags", defaults.cxxflags)),
        makeopts=v.string("portage.makeopts", t.get("makeopts", defaults.makeopts)),
        cpu_flags_x86=v.string_list("portage.cpu_flags_x86", t.get("cpu_flags_x86", [])),
        use=v.string_list("portage.use", t.get("use", []), v.use_flag),
        features=v.string_list("portage.features", t.get("features", [])),
        package_use=package_use,
        accept_keywords=keywords,
        binary_only=v.boolean("portage.binary_only", t.get("binary_only", False)),
        extra=extra,
    )


def _repositories(path: Path, value: Any) -> tuple[Repository, ...]:
    if value is None:
        raise ConfigError(
            "repositories", "required: at least one [[repositories]] entry (name, location)"
        )
    items = v.expect("repositories", value, list, "an array of tables ([[repositories]])")
    if not items:
        raise ConfigError(
            "repositories", "required: at least one [[repositories]] entry (name, location)"
        )
    out = []
    for i, item in enumerate(items):
        key = f"repositories[{i}]"
        t = _table(key, item)
        v.no_unknown(key, t, ("name", "location", "sync_uri"))
        name = v.string(f"{key}.name", t.get("name", ""))
        if not name:
            raise ConfigError(f"{key}.name", "required: the repository name (profiles/repo_name)")
        location = v.string(f"{key}.location", t.get("location", ""))
        if not location:
            raise ConfigError(f"{key}.location", "required: the repository's directory")
        resolved = (path.parent / location).resolve()
        out.append(
            Repository(name, str(resolved), v.string(f"{key}.sync_uri", t.get("sync_uri", "")))
        )
    return tuple(out)


def _kernel(t: dict[str, Any]) -> Kernel:
    v.no_unknown("kernel", t, ("package", "config", "min_version"))
    package = v.string("kernel.package", t.get("package", ""))
    if package:
        v.atom("kernel.package", package)
    return Kernel(
        package=package,
        config=v.string_list("kernel.config", t.get("config", [])),
        min_version=v.kernel_version(
            "kernel.min_version", v.string("kernel.min_version", t.get("min_version", ""))
        ),
    )


def _bootstrap(value: Any) -> tuple[BootstrapStep, ...]:
    items = v.expect("bootstrap", value, list, "an array of tables ([[bootstrap]] atom, use)")
    out = []
    for i, item in enumerate(items):
        key = f"bootstrap[{i}]"
        t = _table(key, item)
        v.no_unknown(key, t, ("atom", "use"))
        atom = v.atom(f"{key}.atom", v.string(f"{key}.atom", t.get("atom", "")))
        out.append(BootstrapStep(atom, v.string_list(f"{key}.use", t.get("use", []), v.use_flag)))
    return tuple(out)


def _disk(t: dict[str, Any]) -> DiskLayout:
    v.no_unknown("disk", t, ("firmware", "table", "select", "min_size", "swap", "partitions"))
    select = v.string("disk.select", t.get("select", "first"))
    if not (select in ("first", "largest") or select.startswith(("serial:", "path:"))):
        raise ConfigError(
            "disk.select", f"{select!r} is not allowed (first, largest, serial:X, path:/dev/X)"
        )
    parts = []
    items = v.expect("disk.partitions", t.get("partitions", []), list, "an array of tables")
    for i, item in enumerate(items):
        key = f"disk.partitions[{i}]"
        p = _table(key, item)
        v.no_unknown(key, p, ("mountpoint", "size", "filesystem", "label"))
        mountpoint = v.string(f"{key}.mountpoint", p.get("mountpoint", ""))
        if mountpoint and not mountpoint.startswith("/"):
            raise ConfigError(f"{key}.mountpoint", f"{mountpoint!r} must be an absolute path")
        parts.append(
            Partition(
                mountpoint=mountpoint,
                size=v.size(f"{key}.size", p.get("size", "rest"), allow_rest=True),
                filesystem=Filesystem(
                    v.choice(f"{key}.filesystem", p.get("filesystem", "ext4"), FILESYSTEMS)
                ),
                label=v.string(f"{key}.label", p.get("label", "")),
            )
        )
    rest = [p for p in parts if p.size is None]
    if len(rest) > 1:
        raise ConfigError("disk.partitions", "only one partition may take the 'rest' of the disk")
    if parts and not any(p.mountpoint == "/" for p in parts):
        raise ConfigError("disk.partitions", "one partition must have mountpoint '/'")
    swap = t.get("swap", 0)
    return DiskLayout(
        firmware=Firmware(
            v.choice("disk.firmware", t.get("firmware", "auto"), tuple(f.value for f in Firmware))
        ),
        table=PartitionTable(
            v.choice("disk.table", t.get("table", "gpt"), tuple(x.value for x in PartitionTable))
        ),
        select=select,
        min_size=v.size("disk.min_size", t["min_size"]) or 0 if "min_size" in t else 0,
        swap=0 if swap in (0, "0", "") else (v.size("disk.swap", swap) or 0),
        partitions=tuple(parts),
    )


def _etc_merge(t: dict[str, Any]) -> MergePolicy:
    v.no_unknown("etc_merge", t, ("default", "ignore_whitespace_comments", "frozen", "rules"))
    rules = []
    items = v.expect("etc_merge.rules", t.get("rules", []), list, "an array of tables")
    for i, item in enumerate(items):
        key = f"etc_merge.rules[{i}]"
        r = _table(key, item)
        v.no_unknown(key, r, ("path", "action"))
        glob = v.string(f"{key}.path", r.get("path", ""))
        if not glob.startswith("/"):
            raise ConfigError(
                f"{key}.path", f"{glob!r} must be an absolute path glob such as /etc/ssh/*"
            )
        rules.append(
            MergeRule(
                glob, MergeAction(v.choice(f"{key}.action", r.get("action", ""), MERGE_ACTIONS))
            )
        )
    return MergePolicy(
        default=MergeAction(
            v.choice("etc_merge.default", t.get("default", "merge"), MERGE_ACTIONS)
        ),
        ignore_whitespace_comments=v.boolean(
            "etc_merge.ignore_whitespace_comments", t.get("ignore_whitespace_comments", True)
        ),
        frozen=v.string_list("etc_merge.frozen", t.get("frozen", [])),
        rules=tuple(rules),
    )
